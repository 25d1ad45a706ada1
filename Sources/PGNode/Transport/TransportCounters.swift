/// A snapshot of what a `PeerTransport` has done since it was created. Counters only grow;
/// `queuedMessages` and `queuedBytes` are the current queue sizes (gauges).
///
/// Every connection that is closed because of bad input is counted exactly once: in
/// `handshakeFailures` (before authentication), `oversizeFrames`, or `malformedFrames`.
public struct TransportCounters: Hashable, Sendable {
    /// Connections that completed the handshake, both directions.
    public var handshakesCompleted = 0
    /// Connections closed during the handshake, by reason. An oversize frame during the
    /// handshake is counted in `oversizeFrames` instead.
    public var handshakeFailures: [Handshake.FailureReason: Int] = [:]
    /// Frames whose declared length exceeded the limit (the connection was closed).
    public var oversizeFrames = 0
    /// Frames on an authenticated connection that did not decode as a Raft message, or a
    /// handshake frame after authentication (the connection was closed).
    public var malformedFrames = 0
    /// Well-formed messages received on an authenticated connection whose `from` is not the
    /// authenticated peer or whose `to` is not this node; dropped, the connection stays open.
    public var messagesMisaddressed = 0
    /// Messages over `maxFrameSize` sent as a run of chunk frames.
    public var messagesChunked = 0
    /// Chunked messages received incompletely (a connection broke in the middle) and dropped.
    public var chunkedMessagesDiscarded = 0
    /// Messages dropped because the peer's queue was full: the peer is unreachable or too slow.
    public var messagesDroppedQueueFull = 0
    /// Messages dropped because their destination is not in the peer table (or is this node).
    public var messagesDroppedUnknownPeer = 0
    /// Messages dropped because their encoding exceeds `maxFrameSize`.
    public var messagesDroppedTooLarge = 0
    /// Messages dropped because the transport was shut down (including those still queued).
    public var messagesDroppedStopped = 0
    /// Raft messages handed to a socket (written to an authenticated connection). A message
    /// written just before its connection breaks is counted here and still lost; Raft retries.
    public var messagesSent = 0
    /// Bytes of those messages, frame headers included.
    public var bytesSent = 0
    /// Well-formed Raft messages received on authenticated connections (delivered or
    /// misaddressed).
    public var messagesReceived = 0
    /// Bytes of those messages, frame headers included.
    public var bytesReceived = 0
    /// Outbound connections that became authenticated.
    public var outboundConnects = 0
    /// Authenticated outbound connections that were lost.
    public var outboundDisconnects = 0
    /// Messages waiting in peer queues right now.
    public var queuedMessages = 0
    /// Bytes waiting in peer queues right now.
    public var queuedBytes = 0

    /// All zero.
    public init() {}

    /// How many handshakes failed for `reason`.
    public func handshakeFailures(_ reason: Handshake.FailureReason) -> Int {
        handshakeFailures[reason, default: 0]
    }

    /// The sum of all handshake failures.
    public var totalHandshakeFailures: Int { handshakeFailures.values.reduce(0, +) }

    /// The sum of all dropped outgoing messages.
    public var totalMessagesDropped: Int {
        messagesDroppedQueueFull + messagesDroppedUnknownPeer + messagesDroppedTooLarge + messagesDroppedStopped
    }
}
