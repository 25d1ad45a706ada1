import NIOCore
import RaftCore

/// Reports what happens on a transport channel to the object that owns it: that the handshake
/// succeeded (`onAuthenticated`), and that the channel became writable again (`onWritable`,
/// so queued messages can flow). Passes every event on unchanged. Runs on the channel's event
/// loop, and so do the callbacks.
final class ConnectionEventsHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let onAuthenticated: (any Channel, NodeID) -> Void
    private let onWritable: () -> Void

    init(onAuthenticated: @escaping (any Channel, NodeID) -> Void, onWritable: @escaping () -> Void = {}) {
        self.onAuthenticated = onAuthenticated
        self.onWritable = onWritable
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let authenticated = event as? HandshakeHandler.Authenticated {
            onAuthenticated(context.channel, authenticated.peer)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            onWritable()
        }
        context.fireChannelWritabilityChanged()
    }
}
