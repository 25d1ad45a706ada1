/// A Raft term: a logical clock that increases with every election (Raft paper §5.1).
///
/// Terms are totally ordered. A node that sees a message with a higher term adopts it;
/// a message from a lower term is stale.
public struct Term: RawRepresentable, Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Term zero: the term before any election. No entry is ever written in it except the
    /// sentinel at index zero.
    public static let zero = Term(0)

    /// The term after this one (saturating at `UInt64.max`; terms come from the network).
    public var next: Term { Term(rawValue == .max ? .max : rawValue + 1) }

    public static func < (lhs: Term, rhs: Term) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "t\(rawValue)" }
}
