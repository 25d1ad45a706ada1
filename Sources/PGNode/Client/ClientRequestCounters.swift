/// A snapshot of the load a `ClientServer` has carried since it started. Counters only grow;
/// `requestsInFlight` is the current number (a gauge).
public struct ClientRequestCounters: Hashable, Sendable {
    /// Requests received and not yet answered (the answer not yet written to the socket), on
    /// all connections, now.
    public var requestsInFlight = 0
    /// The most requests ever in flight on one connection. Never above the server's
    /// `maxRequestsInFlight`.
    public var peakRequestsInFlightPerConnection = 0
    /// Times a connection stopped reading because it had `maxRequestsInFlight` requests in
    /// flight (back-pressure: the client's further requests wait in the socket buffers).
    public var readsPaused = 0
    /// Requests answered (the answer written to the socket).
    public var requestsAnswered = 0

    /// All zero.
    public init() {}
}
