import NIOConcurrencyHelpers
import Testing
@testable import PGNode

@Suite struct LogRateLimiterTests {
    @Test func oneLinePerKeyPerIntervalWithTheSuppressedCount() {
        let clock = NIOLockedValueBox<Duration>(.zero)
        let limiter = LogRateLimiter(interval: .seconds(1)) { clock.withLockedValue { $0 } }
        #expect(limiter.admit("badProof") == .log(suppressed: 0))
        for _ in 0..<5 { #expect(limiter.admit("badProof") == .suppress) }
        // Another key has its own budget.
        #expect(limiter.admit("timeout") == .log(suppressed: 0))
        clock.withLockedValue { $0 = .milliseconds(999) }
        #expect(limiter.admit("badProof") == .suppress)
        clock.withLockedValue { $0 = .seconds(1) }
        #expect(limiter.admit("badProof") == .log(suppressed: 6))
        #expect(limiter.admit("badProof") == .suppress)
        clock.withLockedValue { $0 = .seconds(5) }
        #expect(limiter.admit("badProof") == .log(suppressed: 1))
        #expect(limiter.admit("timeout") == .log(suppressed: 0))
    }

    @Test func aFloodLogsAFewLinesAndCountsEveryRefusal() {
        let clock = NIOLockedValueBox<Duration>(.zero)
        let limiter = LogRateLimiter(interval: .seconds(1)) { clock.withLockedValue { $0 } }
        var logged = 0, suppressedReported = 0
        for i in 0..<10_000 {  // 10 000 refusals over 2.5 s
            clock.withLockedValue { $0 = .microseconds(250 * i) }
            if case .log(let n) = limiter.admit("malformed") {
                logged += 1
                suppressedReported += n
            }
        }
        #expect(logged == 3)  // at 0 s, 1 s, 2 s
        #expect(logged + suppressedReported + 1999 == 10_000)  // the 1999 after 2 s await the next line
    }
}
