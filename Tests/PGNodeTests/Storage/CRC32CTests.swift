import Testing
import PGNode

@Suite struct CRC32CTests {
    /// Bit-at-a-time reference implementation.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return ~c
    }

    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        // RFC 3720 appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func slicingMatchesBitwiseReferenceAndUpdateIsIncremental() {
        var rng = TestRandom(seed: 7)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(CRC32C.checksum(bytes) == Self.reference(bytes), "length \(length)")
            let split = Int(rng.next(below: UInt64(length + 1)))
            #expect(CRC32C.update(CRC32C.checksum(bytes[..<split]), with: bytes[split...]) == CRC32C.checksum(bytes))
        }
        // A non-contiguous sequence takes the copying path.
        #expect(CRC32C.checksum("123456789".utf8.lazy.map { $0 }) == 0xE306_9283)
    }
}
