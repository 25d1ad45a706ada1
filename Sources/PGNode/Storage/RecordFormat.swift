import RaftCore

/// The framing of every record `DiskStorage` writes: a big-endian `UInt32` payload length, a
/// big-endian `UInt32` CRC-32C of the payload, then the payload.
///
/// Log segments are sequences of such records whose payload is one `WireCodec` entry; the
/// hard state and snapshot files each hold exactly one record whose payload is the
/// `WireCodec` encoding of a `HardState` or a `Snapshot`.
enum RecordFormat {
    /// Length and checksum.
    static let headerSize = 8

    /// The largest payload the length field can describe.
    static let maxPayloadSize = Int(UInt32.max)

    /// Appends a record whose payload is whatever `body` writes, computing length and CRC
    /// once it is written. Throws `invalidArgument` if the payload is too large for the
    /// length field; `w` must then be discarded.
    static func appendRecord(to w: inout WireWriter, _ body: (inout WireWriter) -> Void) throws(DiskStorageError) {
        let start = w.bytes.count
        w.writeRaw([0, 0, 0, 0, 0, 0, 0, 0] as [UInt8])
        body(&w)
        let length = w.bytes.count - start - headerSize
        guard length <= maxPayloadSize else {
            throw .invalidArgument("a record of \(length) bytes exceeds the limit of \(maxPayloadSize)")
        }
        let crc = CRC32C.checksum(w.bytes[(start + headerSize)...])
        w.patchUInt32BigEndian(UInt32(length), at: start)
        w.patchUInt32BigEndian(crc, at: start + 4)
    }

    /// A whole file holding one record around `body`'s output.
    static func singleRecordFile(_ body: (inout WireWriter) -> Void) throws(DiskStorageError) -> [UInt8] {
        var w = WireWriter(reservingCapacity: 64)
        try appendRecord(to: &w, body)
        return w.bytes
    }

    /// What sits at an offset of a file.
    enum Frame: Equatable {
        /// A record whose checksum matches; its payload is `bytes[payload]`, the next record
        /// starts at `payload.upperBound`.
        case record(payload: Range<Int>)
        /// The file ends inside the 8-byte header or inside the payload the header declares.
        case incomplete(String)
        /// The header is complete but unusable, or the payload's checksum does not match.
        case bad(String)
    }

    /// Reads the frame at `offset` of `bytes` (`offset` must be a valid index or the end).
    /// `minPayload` rejects lengths no valid payload can have (a zeroed header, say).
    static func frame(in bytes: [UInt8], at offset: Int, minPayload: Int) -> Frame {
        let remaining = bytes.count - offset
        guard remaining >= headerSize else {
            return .incomplete("\(remaining) bytes where an \(headerSize)-byte record header should be")
        }
        let length = Int(readUInt32(bytes, offset))
        let storedCRC = readUInt32(bytes, offset + 4)
        if length < minPayload {
            return .bad("declared length \(length) is below the minimum of \(minPayload)")
        }
        guard length <= remaining - headerSize else {
            return .incomplete("header declares \(length) payload bytes but only \(remaining - headerSize) follow")
        }
        let payload = (offset + headerSize) ..< (offset + headerSize + length)
        let crc = bytes.withUnsafeBytes { CRC32C.update(0, buffer: UnsafeRawBufferPointer(rebasing: $0[payload])) }
        guard crc == storedCRC else {
            return .bad("CRC32C mismatch: stored \(hex(storedCRC)), computed \(hex(crc)) over \(length) bytes")
        }
        return .record(payload: payload)
    }

    static func readUInt32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}
