import Logging
import NIOCore
import NIOPosix
import RaftCore

/// One authenticated connection to a store node, with requests matched to responses by id.
final class ClientConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<ClientResponseHandler>

    private init(channel: any Channel, handler: NIOLoopBound<ClientResponseHandler>) {
        self.channel = channel
        self.handler = handler
    }

    var isActive: Bool { channel.isActive }

    static func connect(to address: PeerAddress, handshake: Handshake.Configuration, group: any EventLoopGroup,
                        logger: Logger, timeout: Duration) async throws -> ClientConnection {
        let counters = TransportCounterBox()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(Int64(timeout.nanoseconds / 1_000_000)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TransportPipeline.installAuthenticated(on: channel, handshake: handshake, maxFrameSize: 64 << 20,
                                                               handshakeTimeout: .seconds(2), counters: counters, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(ClientResponseHandler(eventLoop: channel.eventLoop))
                }
            }
            .connect(host: address.host, port: address.port).get()
        let ready = try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<NIOLoopBound<ClientResponseHandler>> in
            do {
                let h = try channel.pipeline.syncOperations.handler(type: ClientResponseHandler.self)
                let bound = NIOLoopBound(h, eventLoop: channel.eventLoop)
                return h.authenticated.futureResult.map { bound }
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
        return ClientConnection(channel: channel, handler: ready)
    }

    /// The request never left this process: the connection was already closed when it was
    /// written. Retrying it elsewhere is safe, even for a write.
    struct RequestNotSent: Error {}

    /// Sends `request` and waits for the response with its id.
    ///
    /// - Throws: `RequestNotSent` if the connection was closed before the request was
    ///   written (nothing was sent); `StoreError.timeout` after `timeout`, or
    ///   `ClientResponseHandler.ConnectionClosed` if the connection closes first (the request
    ///   may have been sent and acted on); or the error of a failed socket write.
    func request(_ request: ClientRequest, timeout: Duration) async throws -> ClientResponse {
        let frame = ByteBuffer(bytes: Handshake.framed(ClientCodec.encode(request)))
        let handler = self.handler
        let channel = self.channel
        return try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<ClientResponse> in
            guard channel.isActive else { return channel.eventLoop.makeFailedFuture(RequestNotSent()) }
            let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
            handler.value.pending[request.id] = promise
            let task = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                handler.value.pending[request.id] = nil
                promise.fail(StoreError.timeout)
            }
            promise.futureResult.whenComplete { _ in task.cancel() }
            channel.writeAndFlush(frame).whenFailure { error in
                handler.value.pending[request.id] = nil
                if let e = error as? ChannelError, e == .ioOnClosedChannel || e == .alreadyClosed {
                    promise.fail(RequestNotSent())
                } else {
                    promise.fail(error)
                }
            }
            return promise.futureResult
        }.get()
    }

    func close() async {
        try? await channel.close()
    }
}
