import NIOConcurrencyHelpers

/// The live, thread-safe `ClientRequestCounters` of one `ClientServer`, shared by its
/// connections. Updates take a lock briefly.
final class ClientRequestCounterBox: Sendable {
    private let counters = NIOLockedValueBox(ClientRequestCounters())

    /// A request started on a connection that now has `onConnection` in flight.
    func started(onConnection: Int) {
        counters.withLockedValue {
            $0.requestsInFlight += 1
            $0.peakRequestsInFlightPerConnection = max($0.peakRequestsInFlightPerConnection, onConnection)
        }
    }

    /// A request's answer was written (or its connection closed).
    func finished(answered: Bool) {
        counters.withLockedValue {
            $0.requestsInFlight -= 1
            if answered { $0.requestsAnswered += 1 }
        }
    }

    func readPaused() {
        counters.withLockedValue { $0.readsPaused += 1 }
    }

    /// A copy of the counters now.
    var snapshot: ClientRequestCounters {
        counters.withLockedValue { $0 }
    }
}
