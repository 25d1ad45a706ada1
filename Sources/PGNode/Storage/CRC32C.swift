/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the checksum of every
/// record the disk storage writes.
///
/// Table-driven, slicing-by-8 (eight bytes per step). Pure Swift, no hardware instructions,
/// so the result is the same on every platform. Check values: `checksum("123456789")` is
/// `0xE3069283` and `checksum` of 32 zero bytes is `0x8A9136AA`.
public enum CRC32C {
    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        update(0, with: bytes)
    }

    /// Extends `crc` (a previous result of `checksum` or `update`, or 0 to start) with
    /// `bytes`: `update(checksum(a), with: b) == checksum(a + b)`.
    public static func update(_ crc: UInt32, with bytes: some Sequence<UInt8>) -> UInt32 {
        let result = bytes.withContiguousStorageIfAvailable { update(crc, buffer: UnsafeRawBufferPointer($0)) }
        if let result { return result }
        let copy = Array(bytes)
        return copy.withUnsafeBytes { update(crc, buffer: $0) }
    }

    /// Extends `crc` with the bytes of `buffer`.
    public static func update(_ crc: UInt32, buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        let count = buffer.count
        var i = 0
        table.withUnsafeBufferPointer { t in
            while count - i >= 8 {
                let lo = UInt32(buffer[i]) | UInt32(buffer[i + 1]) << 8
                    | UInt32(buffer[i + 2]) << 16 | UInt32(buffer[i + 3]) << 24
                let hi = UInt32(buffer[i + 4]) | UInt32(buffer[i + 5]) << 8
                    | UInt32(buffer[i + 6]) << 16 | UInt32(buffer[i + 7]) << 24
                let x = c ^ lo
                c = t[7 * 256 + Int(x & 0xFF)] ^ t[6 * 256 + Int((x >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((x >> 16) & 0xFF)] ^ t[4 * 256 + Int(x >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < count {
                c = t[Int((c ^ UInt32(buffer[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return ~c
    }

    /// Eight 256-entry tables: `table[k * 256 + b]` is the CRC of byte `b` followed by `k`
    /// zero bytes.
    private static let table: [UInt32] = {
        let polynomial: UInt32 = 0x82F6_3B78
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0..<256 {
            var c = UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[b] = c
        }
        for k in 1..<8 {
            for b in 0..<256 {
                let prev = t[(k - 1) * 256 + b]
                t[k * 256 + b] = t[Int(prev & 0xFF)] ^ (prev >> 8)
            }
        }
        return t
    }()
}
