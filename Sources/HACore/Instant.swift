/// A point on the agent's monotonic clock, in milliseconds. The decision function never reads
/// a clock: the executor passes `now` in, so tests and the simulator choose time.
public struct Instant: RawRepresentable, Comparable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(milliseconds: UInt64) { rawValue = milliseconds }

    public static func < (a: Instant, b: Instant) -> Bool { a.rawValue < b.rawValue }

    /// `self` plus `ms` milliseconds.
    public func adding(milliseconds ms: UInt64) -> Instant { Instant(milliseconds: rawValue &+ ms) }

    /// Milliseconds from `earlier` to `self` (zero if `earlier` is later).
    public func milliseconds(since earlier: Instant) -> UInt64 { rawValue > earlier.rawValue ? rawValue - earlier.rawValue : 0 }

    public var description: String { "\(rawValue)ms" }
}
