/// Appends values to a byte buffer in the compact wire format that `WireReader` reads back.
///
/// The primitives are: single bytes, booleans (one byte, 0 or 1), unsigned LEB128 varints
/// (1 to 10 bytes, always minimal) and byte strings (a varint length, then the bytes).
/// There is no padding and no alignment. Writing never fails.
public struct WireWriter: Sendable {
    /// Everything written so far.
    public private(set) var bytes: [UInt8]

    /// An empty writer with room for `capacity` bytes before it reallocates.
    public init(reservingCapacity capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte as is.
    public mutating func writeByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends `true` as 1 and `false` as 0.
    public mutating func writeBool(_ value: Bool) {
        bytes.append(value ? 1 : 0)
    }

    /// Appends `value` as an unsigned LEB128 varint: seven bits per byte, least significant
    /// group first, high bit set on every byte but the last. Uses the minimal number of
    /// bytes (1 for values below 128, 10 for values of 2^63 and above).
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Appends a byte string: its length as a varint, then the bytes.
    public mutating func writeBytes<C: Collection>(_ data: C) where C.Element == UInt8 {
        writeVarint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    /// Overwrites the four bytes at `offset` with `value`, most significant byte first; used
    /// to fill in a length header once the body has been written. `offset ... offset + 3`
    /// must already have been written (a violation is a programming error and traps).
    public mutating func patchUInt32BigEndian(_ value: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset <= bytes.count - 4, "patch outside the written bytes")
        bytes[offset] = UInt8(truncatingIfNeeded: value >> 24)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[offset + 3] = UInt8(truncatingIfNeeded: value)
    }

    /// Appends raw bytes with no length prefix.
    public mutating func writeRaw<C: Collection>(_ data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }
}
