import NIOCore

/// Completes pending requests as responses arrive; fails them all if the connection closes.
final class ClientResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct ConnectionClosed: Error {}

    var pending: [UInt64: EventLoopPromise<ClientResponse>] = [:]
    let authenticated: EventLoopPromise<Void>
    private var authenticationSettled = false

    init(eventLoop: any EventLoop) {
        authenticated = eventLoop.makePromise()
    }

    private func settle(_ result: Result<Void, any Error>) {
        guard !authenticationSettled else { return }
        authenticationSettled = true
        authenticated.completeWith(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is HandshakeHandler.Authenticated { settle(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let response = try? ClientCodec.decodeResponse(bytes) else {
            context.close(promise: nil)
            return
        }
        pending.removeValue(forKey: response.id)?.succeed(response)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failEverything()
        context.fireChannelInactive()
    }

    /// Also covers connections that never became active (refused, or torn down early).
    func handlerRemoved(context: ChannelHandlerContext) {
        failEverything()
    }

    private func failEverything() {
        settle(.failure(ConnectionClosed()))
        for (_, p) in pending { p.fail(ConnectionClosed()) }
        pending = [:]
    }
}
