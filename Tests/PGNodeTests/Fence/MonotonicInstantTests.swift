#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Testing
@testable import PGNode

@Suite struct MonotonicInstantTests {
    /// The clock finding: on Linux NIO reads CLOCK_MONOTONIC for `NIODeadline.now()`, so a
    /// reading of NIO taken between two raw CLOCK_MONOTONIC readings lies between them, every time.
    @Test func nioDeadlineIsClockMonotonicOnLinux() {
        for _ in 0..<1000 {
            var a = timespec(), b = timespec()
            clock_gettime(CLOCK_MONOTONIC, &a)
            let nio = NIODeadline.now()
            clock_gettime(CLOCK_MONOTONIC, &b)
            let before = UInt64(a.tv_sec) * 1_000_000_000 + UInt64(a.tv_nsec)
            let after = UInt64(b.tv_sec) * 1_000_000_000 + UInt64(b.tv_nsec)
            #if os(Linux)
            #expect(before <= nio.uptimeNanoseconds && nio.uptimeNanoseconds <= after)
            #endif
            let converted = MonotonicInstant(nio).nanoseconds
            #expect(before <= converted && converted <= after)
        }
    }

    /// A lease deadline 600 ms ahead stays 600 ms ahead on CLOCK_MONOTONIC.
    @Test func aFutureDeadlineConvertsToTheSameOffset() {
        let now = NIODeadline.now()
        let deadline = now + .milliseconds(600)
        let offset = MonotonicInstant(deadline).duration(since: MonotonicInstant(now))
        #expect(offset == .milliseconds(600))
    }

    @Test func arithmeticSaturatesInsteadOfTrapping() {
        let top = MonotonicInstant(nanoseconds: .max - 5)
        #expect(top.advanced(by: .seconds(10)) == MonotonicInstant(nanoseconds: .max))
        #expect(MonotonicInstant(nanoseconds: 5).advanced(by: .seconds(-10)) == MonotonicInstant(nanoseconds: 0))
        #expect(MonotonicInstant(nanoseconds: .max).duration(since: MonotonicInstant(nanoseconds: 0)) == .nanoseconds(Int64.max))
        #expect(MonotonicInstant(nanoseconds: 0).duration(since: MonotonicInstant(nanoseconds: 3_000)) == .nanoseconds(-3_000))
        #expect(MonotonicInstant(NIODeadline.distantFuture).nanoseconds == UInt64(Int64.max))
        // Durations beyond Int64 nanoseconds (292 years) are clamped, not trapped on.
        #expect(MonotonicInstant(nanoseconds: 1).advanced(by: .seconds(Int64.max)).nanoseconds == 1 + UInt64(Int64.max))
    }
}
