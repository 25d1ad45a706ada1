/// A position in the replicated log. The first real entry has index 1; index 0 is the
/// empty prefix (term 0) that every log agrees on.
public struct LogIndex: RawRepresentable, Hashable, Comparable, Strideable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    public static let zero = LogIndex(0)

    public static func < (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue < rhs.rawValue }
    public func distance(to other: LogIndex) -> Int { Int(other.rawValue) - Int(rawValue) }
    public func advanced(by n: Int) -> LogIndex { LogIndex(UInt64(Int(rawValue) + n)) }

    public static func + (lhs: LogIndex, rhs: UInt64) -> LogIndex { LogIndex(lhs.rawValue + rhs) }
    /// Saturates at zero rather than trapping.
    public static func - (lhs: LogIndex, rhs: UInt64) -> LogIndex {
        LogIndex(lhs.rawValue >= rhs ? lhs.rawValue - rhs : 0)
    }
    public var description: String { "i\(rawValue)" }
}
