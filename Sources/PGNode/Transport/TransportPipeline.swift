import Logging
import NIOCore
import RaftCore

/// The channel pipeline of every transport connection, inbound and outbound:
/// `ByteToMessageHandler(FrameDecoder)` → `HandshakeHandler` → [`extra`] → `MessageReceiveHandler`.
enum TransportPipeline {
    /// Adds the handlers to `channel`. Must run on the channel's event loop (inside
    /// `channel.eventLoop.makeCompletedFuture { … }` in a channel initializer).
    static func install(
        on channel: any Channel,
        handshake: Handshake.Configuration,
        maxFrameSize: Int,
        maxMessageSize: Int = TransportConfig.defaultMaxMessageSize,
        handshakeTimeout: TimeAmount,
        counters: TransportCounterBox,
        logger: Logger,
        extra: (any ChannelHandler)? = nil,
        onMessage: @escaping @Sendable (Message) -> Void
    ) throws {
        try installAuthenticated(on: channel, handshake: handshake, maxFrameSize: maxFrameSize,
                                 handshakeTimeout: handshakeTimeout, counters: counters, logger: logger)
        let sync = channel.pipeline.syncOperations
        if let extra {
            try sync.addHandler(extra)
        }
        try sync.addHandler(MessageReceiveHandler(localID: handshake.localID, maxMessageSize: maxMessageSize,
                                                  counters: counters, logger: logger, onMessage: onMessage))
    }

    /// Adds the framing and the handshake (`FrameDecoder` → `HandshakeHandler`): after it,
    /// handlers receive the payloads of authenticated frames. The client protocol builds on
    /// this. Must run on the channel's event loop.
    static func installAuthenticated(
        on channel: any Channel,
        handshake: Handshake.Configuration,
        maxFrameSize: Int,
        handshakeTimeout: TimeAmount,
        counters: TransportCounterBox,
        logger: Logger
    ) throws {
        let limit = FrameSizeLimit(maxPayload: Handshake.maxFrameSize)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ByteToMessageHandler(FrameDecoder(limit: limit)))
        try sync.addHandler(HandshakeHandler(handshake: Handshake(configuration: handshake), limit: limit,
                                             maxFrameSize: maxFrameSize, timeout: handshakeTimeout,
                                             counters: counters, logger: logger))
    }
}
