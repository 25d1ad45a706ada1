import Logging
import NIOCore
import RaftCore

/// Decodes the Raft frames of an authenticated connection and delivers them.
///
/// Sits after `HandshakeHandler`, which only forwards frames once the peer is authenticated
/// and tells this handler who the peer is (`HandshakeHandler.Authenticated`). A payload that
/// `WireCodec.decode` rejects closes the connection (logged once, counted in
/// `malformedFrames`), so bad input never reaches RaftCore. A well-formed message is delivered
/// to `onMessage` only if it is from the authenticated peer and to this node; anything else is
/// counted in `messagesMisaddressed` and dropped (the first one per connection is logged).
///
/// `onMessage` runs on the channel's event loop and must not block.
final class MessageReceiveHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let localID: NodeID
    private let counters: TransportCounterBox
    private let logger: Logger
    private let onMessage: @Sendable (Message) -> Void
    private var peer: NodeID?
    private var peerAddress = "?"
    private var loggedMisaddressed = false
    private var closing = false
    private var chunks: MessageChunks.Assembler

    init(localID: NodeID, maxMessageSize: Int = TransportConfig.defaultMaxMessageSize, counters: TransportCounterBox,
         logger: Logger, onMessage: @escaping @Sendable (Message) -> Void) {
        self.localID = localID
        self.chunks = MessageChunks.Assembler(maxMessageSize: maxMessageSize)
        self.counters = counters
        self.logger = logger
        self.onMessage = onMessage
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress { peerAddress = "\(address)" }
    }

    func channelActive(context: ChannelHandlerContext) {
        if let address = context.channel.remoteAddress { peerAddress = "\(address)" }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let authenticated = event as? HandshakeHandler.Authenticated {
            peer = authenticated.peer
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let payload = Self.unwrapInboundIn(data)
        guard let peer else {
            // HandshakeHandler forwards nothing before authentication; never reached.
            closing = true
            context.close(promise: nil)
            return
        }
        var encoded = Array(payload.readableBytesView)
        if encoded.first == MessageChunks.frameType {
            do {
                switch try chunks.add(encoded) {
                case .incomplete:
                    return
                case .discarded:
                    counters.update { $0.chunkedMessagesDiscarded += 1 }
                    return
                case .complete(let whole):
                    encoded = whole
                }
            } catch {
                closeMalformed(context: context, peer: peer, detail: "bad chunk of a large message: \(error)")
                return
            }
        }
        let message: Message
        do {
            message = try WireCodec.decode(encoded)
        } catch {
            closeMalformed(context: context, peer: peer, detail: "undecodable Raft message (\(encoded.count) bytes): \(error)")
            return
        }
        let size = encoded.count + WireCodec.frameHeaderSize
        guard message.from == peer, message.to == localID else {
            counters.update {
                $0.messagesReceived += 1
                $0.bytesReceived += size
                $0.messagesMisaddressed += 1
            }
            if !loggedMisaddressed {
                loggedMisaddressed = true
                logger.warning("dropping misaddressed message (further ones on this connection are only counted)", metadata: [
                    "peer.address": "\(peerAddress)", "peer.node": "\(peer.rawValue)",
                    "message.from": "\(message.from.rawValue)", "message.to": "\(message.to.rawValue)",
                ])
            }
            return
        }
        counters.update {
            $0.messagesReceived += 1
            $0.bytesReceived += size
        }
        onMessage(message)
    }

    /// Closes the connection over bad input: counted once, logged once.
    private func closeMalformed(context: ChannelHandlerContext, peer: NodeID, detail: String) {
        closing = true
        counters.update { $0.malformedFrames += 1 }
        logger.connectionClosed(address: peerAddress, node: peer, reason: "malformedFrame", detail: detail,
                                limiter: counters.refusalLog)
        context.close(promise: nil)
    }
}
