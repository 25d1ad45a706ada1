/// Reads the primitives that `WireWriter` writes, from a byte buffer and a read position.
///
/// Guarantees, for any input whatsoever:
/// - no read traps: a read past the end, an overlong or overflowing varint, a boolean other
///   than 0 or 1, or a length prefix larger than the rest of the input throws `WireError`;
/// - nothing is allocated for a length or count prefix before it has been checked against
///   the bytes that remain, so a short input cannot make the reader allocate much;
/// - varints must be minimal (no superfluous zero groups), so each value has exactly one
///   encoding;
/// - a read that throws leaves the position where it was.
public struct WireReader: Sendable {
    /// The bytes being read; indices are those of the slice.
    public let bytes: ArraySlice<UInt8>
    /// The index of the next byte to read, in `bytes.startIndex ... bytes.endIndex`.
    public private(set) var position: Int

    /// A reader positioned at the start of `bytes`.
    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    /// A reader positioned at the start of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// How many bytes are left to read.
    public var remaining: Int { bytes.endIndex - position }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position == bytes.endIndex }

    /// Throws `trailingBytes` unless every byte has been read.
    public func expectEnd() throws(WireError) {
        if !isAtEnd { throw .trailingBytes(remaining) }
    }

    /// Reads one byte.
    public mutating func readByte() throws(WireError) -> UInt8 {
        guard position < bytes.endIndex else { throw .truncated }
        let b = bytes[position]
        position += 1
        return b
    }

    /// Reads a boolean; only the bytes 0 and 1 are accepted.
    public mutating func readBool() throws(WireError) -> Bool {
        guard position < bytes.endIndex else { throw .truncated }
        switch bytes[position] {
        case 0: position += 1; return false
        case 1: position += 1; return true
        default: throw .invalid("boolean byte \(bytes[position])")
        }
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    ///
    /// Throws `truncated` if the input ends inside it, `varintOverflow` if it has more than 10
    /// bytes or its value exceeds `UInt64.max`, and `invalid` if it is not minimal (ends in a
    /// zero group after the first byte).
    public mutating func readVarint() throws(WireError) -> UInt64 {
        var pos = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for i in 0..<10 {
            guard pos < bytes.endIndex else { throw .truncated }
            let b = bytes[pos]
            pos += 1
            // The 10th byte holds bit 63 only: anything above 1 (including a continuation
            // bit) cannot fit.
            if i == 9 && b > 1 { throw .varintOverflow }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                if b == 0 && i > 0 { throw .invalid("non-minimal varint") }
                position = pos
                return result
            }
            shift &+= 7
        }
        // Unreachable: the 10th byte either ends the varint or throws above.
        throw .varintOverflow
    }

    /// Reads a varint that must not exceed `limit`; a larger value throws
    /// `invalid("<what> above <limit>")`.
    public mutating func readVarint(atMost limit: UInt64, _ what: String) throws(WireError) -> UInt64 {
        let start = position
        let value = try readVarint()
        guard value <= limit else {
            position = start
            throw .invalid("\(what) above \(limit)")
        }
        return value
    }

    /// Reads a varint length and then that many bytes.
    ///
    /// The length is checked against `remaining` before anything is allocated; a larger
    /// length throws `tooLarge(what, length)`.
    public mutating func readBytes(_ what: String = "byte string") throws(WireError) -> [UInt8] {
        let start = position
        let n = try readVarint()
        guard n <= UInt64(remaining) else {
            position = start
            throw .tooLarge(what, Self.clamped(n))
        }
        let count = Int(n)  // n <= remaining, so it fits.
        let data = Array(bytes[position ..< position + count])
        position += count
        return data
    }

    /// Reads a varint element count, for a sequence whose elements take at least
    /// `minElementSize` bytes each (at least 1 is assumed).
    ///
    /// A count that the remaining bytes could not possibly hold throws `tooLarge(what,
    /// count)`, so a caller may safely reserve capacity for the returned count.
    public mutating func readCount(_ what: String, minElementSize: Int) throws(WireError) -> Int {
        let start = position
        let n = try readVarint()
        let perElement = UInt64(max(minElementSize, 1))
        guard n <= UInt64(remaining) / perElement else {
            position = start
            throw .tooLarge(what, Self.clamped(n))
        }
        return Int(n)  // n <= remaining, so it fits.
    }

    /// Reads a varint that must be a valid (non-zero) node id.
    public mutating func readNodeID(_ what: String) throws(WireError) -> NodeID {
        let start = position
        let raw = try readVarint()
        guard raw != 0 else {
            position = start
            throw .invalid("\(what) is node 0")
        }
        return NodeID(raw)
    }

    /// `value` as an `Int`, or `Int.max` if it does not fit.
    static func clamped(_ value: UInt64) -> Int {
        value > UInt64(Int.max) ? Int.max : Int(value)
    }
}
