#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A point on `CLOCK_MONOTONIC`, in nanoseconds: the clock the agent and its fence guard share.
///
/// Guarantees: `now()` reads `CLOCK_MONOTONIC` directly. `init(_:)` maps a `NIODeadline` onto
/// that clock exactly on Linux, where NIO itself reads `CLOCK_MONOTONIC` for `NIODeadline.now()`
/// (checked by `MonotonicInstantTests`); elsewhere it converts through a pair of readings of both
/// clocks, which is exact up to the time between the two readings. Arithmetic saturates instead
/// of trapping, so no input can crash it.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's (arbitrary) origin.
    public var nanoseconds: UInt64

    /// The instant `nanoseconds` after the clock's origin.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current instant on `CLOCK_MONOTONIC`.
    public static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// The same instant as `deadline`, on `CLOCK_MONOTONIC`.
    public init(_ deadline: NIODeadline) {
        #if os(Linux)
        nanoseconds = deadline.uptimeNanoseconds
        #else
        let here = MonotonicInstant.now().nanoseconds
        let there = NIODeadline.now().uptimeNanoseconds
        let target = deadline.uptimeNanoseconds
        nanoseconds = target >= there ? here.addingSaturated(target - there) : here.subtractingSaturated(there - target)
        #endif
    }

    /// Earlier than.
    public static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `self` moved by `duration` (either sign), saturating at the ends of the clock.
    public func advanced(by duration: Duration) -> MonotonicInstant {
        let ns = duration.nanosecondsClamped
        return ns >= 0
            ? MonotonicInstant(nanoseconds: nanoseconds.addingSaturated(UInt64(ns)))
            : MonotonicInstant(nanoseconds: nanoseconds.subtractingSaturated(ns.magnitude))
    }

    /// The signed time from `earlier` to `self` (negative if `earlier` is later).
    public func duration(since earlier: MonotonicInstant) -> Duration {
        if nanoseconds >= earlier.nanoseconds {
            return .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds))
        }
        return .nanoseconds(-Int64(clamping: earlier.nanoseconds - nanoseconds))
    }

    /// The nanoseconds, with the unit.
    public var description: String { "\(nanoseconds)ns" }
}

extension UInt64 {
    func addingSaturated(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }

    func subtractingSaturated(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = ns.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }

    /// The duration in milliseconds, for log lines.
    var milliseconds: Int64 { nanosecondsClamped / 1_000_000 }
}
