import Logging
import NIOCore
import RaftCore

/// Runs a `Handshake` on a channel and guards the connection afterwards.
///
/// Sits right after `ByteToMessageHandler(FrameDecoder)` and receives frame payloads. Until
/// authentication it feeds them to the handshake and performs its actions (write frames, close
/// on failure); the handshake must finish within `timeout`. On success it raises the
/// connection's frame limit to the configured maximum and fires
/// `HandshakeHandler.Authenticated` as a user inbound event; from then on it forwards every
/// payload unchanged, except handshake frames, which close the connection.
///
/// Every close caused by the peer is logged once (`Logger.connectionClosed`) and counted once.
/// Reusable by any protocol that runs over the same framing (the client protocol will put its
/// own handler after this one and set `acceptClients`).
final class HandshakeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The user inbound event fired once the peer is authenticated.
    struct Authenticated: Hashable, Sendable {
        /// The verified node id of the other side (0 for a client).
        var peer: NodeID
    }

    private var handshake: Handshake
    private let limit: FrameSizeLimit
    private let maxFrameSize: Int
    private let timeout: TimeAmount
    private let counters: TransportCounterBox
    private let logger: Logger
    private var timeoutTask: Scheduled<Void>?
    private var started = false
    private var closing = false
    private var peerAddress = "?"

    /// - Parameters:
    ///   - limit: the connection's frame limit, shared with its `FrameDecoder`; should start at
    ///     `Handshake.maxFrameSize`.
    ///   - maxFrameSize: the limit after authentication.
    init(handshake: Handshake, limit: FrameSizeLimit, maxFrameSize: Int, timeout: TimeAmount,
         counters: TransportCounterBox, logger: Logger) {
        self.handshake = handshake
        self.limit = limit
        self.maxFrameSize = maxFrameSize
        self.timeout = timeout
        self.counters = counters
        self.logger = logger
    }

    /// The verified peer id once authenticated.
    var authenticatedPeer: NodeID? { handshake.authenticatedPeer }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { begin(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        begin(context: context)
        context.fireChannelActive()
    }

    private func begin(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let address = context.channel.remoteAddress {
            peerAddress = "\(address)"
        }
        timeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.run(self.handshake.timedOut(), context: context)
        }
        run(handshake.start(), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let payload = Self.unwrapInboundIn(data)
        if handshake.authenticatedPeer != nil {
            if let type = payload.getInteger(at: payload.readerIndex, as: UInt8.self),
               Handshake.isHandshakeFrame(typeByte: type) {
                counters.update { $0.malformedFrames += 1 }
                close(context: context, reason: "malformedFrame", detail: "handshake frame (type \(type)) after authentication")
                return
            }
            context.fireChannelRead(data)
            return
        }
        run(handshake.receive(Array(payload.readableBytesView)), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimeout()
        if started && !handshake.isFinished && !closing {
            // The other side hung up during the handshake; it logged why, if it knew.
            _ = handshake.connectionClosed()
            counters.handshakeFailed(.closed)
            logger.debug("connection closed during the handshake", metadata: [
                "peer.address": "\(peerAddress)", "peer.node": "\(handshake.claimedPeer?.rawValue.description ?? "?")",
                "reason": "\(Handshake.FailureReason.closed)",
            ])
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimeout()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        if let tooLarge = error as? FrameDecoder.FrameTooLarge {
            counters.update { $0.oversizeFrames += 1 }
            close(context: context, reason: "oversizeFrame",
                  detail: "frame of \(tooLarge.length) bytes exceeds the limit of \(tooLarge.limit) bytes")
            return
        }
        if error is ByteToMessageDecoderError {
            return  // data after a decoder error; the close is under way
        }
        // I/O errors (connection reset, ...): nothing the peer can fix by reading our logs.
        logger.debug("connection error", metadata: [
            "peer.address": "\(peerAddress)", "peer.node": "\(peerNodeDescription)", "error": "\(error)",
        ])
        closing = true
        context.close(promise: nil)
    }

    private var peerNodeDescription: String {
        (handshake.authenticatedPeer ?? handshake.claimedPeer ?? handshake.configuration.expectedPeer)
            .map { "\($0.rawValue)" } ?? "?"
    }

    private func run(_ actions: [Handshake.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let payload):
                var buffer = context.channel.allocator.buffer(capacity: 4 + payload.count)
                buffer.writeInteger(UInt32(payload.count), endianness: .big)
                buffer.writeBytes(payload)
                context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
            case .authenticated(let peer):
                cancelTimeout()
                limit.maxPayload = maxFrameSize
                counters.update { $0.handshakesCompleted += 1 }
                logger.debug("connection authenticated", metadata: [
                    "peer.address": "\(peerAddress)", "peer.node": "\(peer.rawValue)",
                ])
                context.fireUserInboundEventTriggered(Authenticated(peer: peer))
            case .fail(let failure):
                counters.handshakeFailed(failure.reason)
                close(context: context, reason: failure.reason.rawValue, detail: "handshake failed: \(failure.detail)")
            }
        }
    }

    /// Logs the warning for this connection (rate-limited per reason) and closes it.
    func close(context: ChannelHandlerContext, reason: String, detail: String) {
        guard !closing else { return }
        closing = true
        cancelTimeout()
        let node = handshake.authenticatedPeer ?? handshake.claimedPeer ?? handshake.configuration.expectedPeer
        logger.connectionClosed(address: peerAddress, node: node, reason: reason, detail: detail,
                                limiter: counters.refusalLog)
        context.close(promise: nil)
    }

    private func cancelTimeout() {
        timeoutTask?.cancel()
        timeoutTask = nil
    }
}
