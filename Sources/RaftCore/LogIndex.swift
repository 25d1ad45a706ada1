/// A position in the replicated log. The first real entry has index 1; index 0 is the
/// empty prefix (term 0) that every log agrees on.
public struct LogIndex: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    public static let zero = LogIndex(0)

    public static func < (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue < rhs.rawValue }
    /// Saturates at `UInt64.max` rather than trapping (indices come from the network).
    public static func + (lhs: LogIndex, rhs: UInt64) -> LogIndex {
        let (sum, overflow) = lhs.rawValue.addingReportingOverflow(rhs)
        return LogIndex(overflow ? .max : sum)
    }
    /// Saturates at zero rather than trapping.
    public static func - (lhs: LogIndex, rhs: UInt64) -> LogIndex {
        LogIndex(lhs.rawValue >= rhs ? lhs.rawValue - rhs : 0)
    }
    public var description: String { "i\(rawValue)" }
}
