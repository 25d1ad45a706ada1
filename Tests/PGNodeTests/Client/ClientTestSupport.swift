import Logging
import NIOCore
import NIOPosix
@testable import PGNode
import RaftCore

let clientTestSecret: [UInt8] = Array("client test secret, long enough".utf8)

/// What a `ScriptedStoreNode` does with one request.
enum ScriptedAnswer: Sendable {
    case respond(ClientResponse.Outcome)
    /// Close the connection without answering (the request was received).
    case close
}

/// A store node that speaks the client protocol (real handshake) but answers from a script.
final class ScriptedStoreNode: Sendable {
    let id: NodeID
    let channel: any Channel

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let script: @Sendable (ClientRequest) -> ScriptedAnswer
        init(script: @escaping @Sendable (ClientRequest) -> ScriptedAnswer) { self.script = script }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = Self.unwrapInboundIn(data)
            guard let request = try? ClientCodec.decodeRequest(buffer.readBytes(length: buffer.readableBytes) ?? []) else {
                context.close(promise: nil)
                return
            }
            switch script(request) {
            case .respond(let outcome):
                let frame = Handshake.framed(ClientCodec.encode(ClientResponse(id: request.id, outcome: outcome)))
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: frame)), promise: nil)
            case .close:
                context.close(promise: nil)
            }
        }
    }

    init(id: NodeID, group: any EventLoopGroup, script: @escaping @Sendable (ClientRequest) -> ScriptedAnswer) async throws {
        self.id = id
        let handshake = Handshake.Configuration(clusterName: "client-test", localID: id, secret: clientTestSecret,
                                                knownPeers: [], acceptClients: true)
        let logger = Logger(label: "scripted") { _ in SwiftLogNoOpLogHandler() }
        channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TransportPipeline.installAuthenticated(on: channel, handshake: handshake, maxFrameSize: 1 << 20,
                                                               handshakeTimeout: .seconds(2), counters: TransportCounterBox(),
                                                               logger: logger)
                    try channel.pipeline.syncOperations.addHandler(Handler(script: script))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var address: PeerAddress { PeerAddress(host: "127.0.0.1", port: channel.localAddress!.port!) }

    func close() async { try? await channel.close() }
}

/// A client of the given nodes, with short timeouts.
func makeTestClient(_ endpoints: [NodeID: PeerAddress], group: any EventLoopGroup,
                    requestTimeout: Duration = .seconds(2)) -> StoreClient {
    var config = StoreClientConfig(clusterName: "client-test", secret: clientTestSecret, endpoints: endpoints)
    config.attemptTimeout = .milliseconds(500)
    config.requestTimeout = requestTimeout
    return StoreClient(config: config, group: group, logger: Logger(label: "client") { _ in SwiftLogNoOpLogHandler() })
}
