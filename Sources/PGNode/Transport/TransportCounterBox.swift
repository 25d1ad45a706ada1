import NIOConcurrencyHelpers

/// The live, thread-safe `TransportCounters` of one transport, shared by its connections and
/// handlers. Updates take a lock briefly; never call back into the transport while holding it.
///
/// It also holds the transport's `refusalLog`: every refusal is counted here, and logged
/// only as often as that limiter allows.
final class TransportCounterBox: Sendable {
    private let counters = NIOLockedValueBox(TransportCounters())
    /// Rate-limits the per-refusal warnings of every connection of this transport (one line
    /// per reason per second by default).
    let refusalLog: LogRateLimiter

    init(refusalLog: LogRateLimiter = LogRateLimiter()) {
        self.refusalLog = refusalLog
    }

    /// Applies `update` under the lock.
    func update(_ update: (inout TransportCounters) -> Void) {
        counters.withLockedValue { update(&$0) }
    }

    /// Counts one failed handshake.
    func handshakeFailed(_ reason: Handshake.FailureReason) {
        update { $0.handshakeFailures[reason, default: 0] += 1 }
    }

    /// A copy of the counters now.
    var snapshot: TransportCounters {
        counters.withLockedValue { $0 }
    }
}
