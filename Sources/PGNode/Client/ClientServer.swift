import Logging
import NIOCore
import NIOPosix
import RaftCore

/// The store's client protocol endpoint: authenticated connections (the same framing and
/// HMAC handshake as peers, with node id 0 for clients) carrying `ClientRequest`s, each
/// answered with a `ClientResponse`. Requests on one connection may be answered out of order
/// (match them by id). Malformed requests close the connection with a log line.
public actor ClientServer {
    private let runtime: RaftRuntime
    private let handshake: Handshake.Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let counters = TransportCounterBox()
    private var channel: (any Channel)?

    /// A server for `runtime`, authenticating clients of `clusterName` with `secret`.
    public init(runtime: RaftRuntime, clusterName: String, secret: [UInt8], group: any EventLoopGroup, logger: Logger) {
        self.runtime = runtime
        self.handshake = Handshake.Configuration(clusterName: clusterName, localID: runtime.id, secret: secret,
                                                 knownPeers: [], acceptClients: true)
        self.group = group
        self.logger = logger
    }

    /// Binds `host:port` (port 0 picks a free one) and starts serving. Returns the bound port.
    @discardableResult
    public func start(host: String, port: Int) async throws -> Int {
        let handshake = self.handshake, counters = self.counters, logger = self.logger, runtime = self.runtime
        let ch = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TransportPipeline.installAuthenticated(on: channel, handshake: handshake, maxFrameSize: 4 << 20,
                                                               handshakeTimeout: .seconds(2), counters: counters, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(ClientRequestHandler(runtime: runtime, logger: logger))
                }
            }
            .bind(host: host, port: port).get()
        channel = ch
        return ch.localAddress?.port ?? port
    }

    /// Stops accepting connections.
    public func shutdown() async {
        try? await channel?.close()
        channel = nil
    }
}

/// Decodes client requests after the handshake and runs them against the runtime.
final class ClientRequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: RaftRuntime
    private let logger: Logger

    init(runtime: RaftRuntime, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let request: ClientRequest
        do {
            request = try ClientCodec.decodeRequest(bytes)
        } catch {
            logger.warning("closing client connection: malformed request", metadata: [
                "peer.address": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "reason": "\(error)"])
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        let runtime = self.runtime
        Task {
            let response = ClientResponse(id: request.id, outcome: await runtime.serve(request.operation))
            let frame = Handshake.framed(ClientCodec.encode(response))
            channel.writeAndFlush(ByteBuffer(bytes: frame), promise: nil)
        }
    }

}

extension RaftRuntime {
    /// Runs one client operation and describes the outcome for the wire.
    func serve(_ op: ClientRequest.Operation) async -> ClientResponse.Outcome {
        let runtime = self
        do {
            switch op {
            case .get(let key, let lin):
                return .value(try await runtime.get(key, linearizable: lin))
            case .list(let prefix, let lin):
                let (rev, items) = try await runtime.list(prefix: prefix, linearizable: lin)
                return .list(revision: rev, items: items.map { KeyedValue(key: $0.key, value: $0.value) })
            case .put(let key, let value, let expected):
                return .written(revision: try await runtime.put(key, value, expectedRevision: expected))
            case .delete(let key, let expected):
                return .written(revision: try await runtime.delete(key, expectedRevision: expected))
            case .status:
                guard let s = await runtime.status() else { return .failed(.stopped) }
                return .status(NodeStatus(s))
            }
        } catch {
            return .failed(error)
        }
    }
}
