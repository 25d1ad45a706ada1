/// Why bytes could not be decoded by `WireReader` or `WireCodec`.
///
/// Decoding never traps: every malformed, truncated or hostile input ends in one of these
/// errors. None of them says anything about the peer beyond "it sent bytes we do not
/// accept"; a stream transport should close the connection on any of them.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input ended in the middle of a value (a varint, a byte or a fixed-size field).
    case truncated
    /// A varint ran longer than 10 bytes or its value does not fit in a `UInt64`.
    case varintOverflow
    /// The first byte of a message is not one of the types in the `WireCodec` table.
    case unknownMessageType(UInt8)
    /// A tag byte selecting a variant of the named type is not one we know.
    case unknownTag(String, UInt8)
    /// A complete value was decoded but this many bytes were left over.
    case trailingBytes(Int)
    /// A length or count prefix of the named thing declares more than could possibly follow
    /// (more bytes than remain, more elements than the remaining bytes can hold), or a frame
    /// is longer than the transport allows. The declared size is clamped to `Int.max`.
    case tooLarge(String, Int)
    /// The bytes are well formed but break a rule of the format (a zero node id, a boolean
    /// that is neither 0 nor 1, a non-minimal varint, an unsorted member list, ...).
    case invalid(String)

    /// A short English description, for logs.
    public var description: String {
        switch self {
        case .truncated: return "truncated input"
        case .varintOverflow: return "varint overflow"
        case .unknownMessageType(let t): return "unknown message type \(t)"
        case .unknownTag(let what, let t): return "unknown \(what) tag \(t)"
        case .trailingBytes(let n): return "\(n) trailing bytes"
        case .tooLarge(let what, let n): return "\(what) too large (\(n))"
        case .invalid(let why): return "invalid: \(why)"
        }
    }
}
