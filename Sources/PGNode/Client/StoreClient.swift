import Logging
import NIOCore
import NIOPosix
import RaftCore

/// Where and how to reach a store cluster.
public struct StoreClientConfig: Sendable {
    public var clusterName: String
    public var secret: [UInt8]
    /// Every node's client endpoint.
    public var endpoints: [NodeID: PeerAddress]
    /// How long one attempt may take.
    public var attemptTimeout: Duration = .seconds(3)
    /// How long a request may take in all, across redirects and retries.
    public var requestTimeout: Duration = .seconds(10)

    public init(clusterName: String, secret: [UInt8], endpoints: [NodeID: PeerAddress]) {
        self.clusterName = clusterName
        self.secret = secret
        self.endpoints = endpoints
    }
}

/// A client of the cluster store that any node can serve: it sends each request to the node
/// it believes is leader, follows "not leader" answers to the named leader, and moves on to
/// another node when one cannot be reached, until `requestTimeout`.
///
/// Writes that time out have an unknown outcome (`StoreError.timeout`); they are not retried
/// blindly after a connection broke mid-request, because the write may have happened.
public actor StoreClient {
    public let config: StoreClientConfig
    private let group: any EventLoopGroup
    private let logger: Logger
    private var connections: [NodeID: ClientConnection] = [:]
    private var leaderGuess: NodeID?
    private var nextID: UInt64 = 1

    public init(config: StoreClientConfig, group: any EventLoopGroup, logger: Logger) {
        self.config = config
        self.group = group
        self.logger = logger
    }

    // MARK: Operations

    public func get(_ key: String, linearizable: Bool = true) async throws(StoreError) -> VersionedValue? {
        if case .value(let v) = try await perform(.get(key: key, linearizable: linearizable)) { return v }
        throw .unavailable("unexpected answer")
    }

    public func list(prefix: String, linearizable: Bool = true) async throws(StoreError) -> (revision: UInt64, items: [KeyedValue]) {
        if case .list(let rev, let items) = try await perform(.list(prefix: prefix, linearizable: linearizable)) { return (rev, items) }
        throw .unavailable("unexpected answer")
    }

    /// Sets `key`; with `expectedRevision`, only if the key's revision matches (0: absent).
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], expectedRevision: UInt64? = nil) async throws(StoreError) -> UInt64 {
        if case .written(let rev) = try await perform(.put(key: key, value: value, expectedRevision: expectedRevision)) { return rev }
        throw .unavailable("unexpected answer")
    }

    @discardableResult
    public func delete(_ key: String, expectedRevision: UInt64? = nil) async throws(StoreError) -> UInt64 {
        if case .written(let rev) = try await perform(.delete(key: key, expectedRevision: expectedRevision)) { return rev }
        throw .unavailable("unexpected answer")
    }

    /// The status of one node, asked directly (no redirect).
    public func status(of node: NodeID) async throws(StoreError) -> NodeStatus {
        guard let conn = try? await connection(to: node) else { throw .unavailable("cannot reach \(node)") }
        let response: ClientResponse
        do { response = try await conn.request(ClientRequest(id: takeID(), operation: .status), timeout: config.attemptTimeout) } catch {
            throw .unavailable("no answer from \(node): \(error)")
        }
        switch response.outcome {
        case .status(let s): return s
        case .failed(let e): throw e
        default: throw .unavailable("unexpected answer")
        }
    }

    /// Closes every connection.
    public func close() async {
        for c in connections.values { await c.close() }
        connections = [:]
    }

    // MARK: Routing

    private func takeID() -> UInt64 {
        nextID += 1
        return nextID
    }

    private func perform(_ op: ClientRequest.Operation) async throws(StoreError) -> ClientResponse.Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + config.requestTimeout
        let order = config.endpoints.keys.sorted()
        guard !order.isEmpty else { throw .invalidRequest("no endpoints configured") }
        var rotation = Int.random(in: 0..<order.count)
        var pause: Duration = .milliseconds(20)
        var isWrite = false
        if case .put = op { isWrite = true }
        if case .delete = op { isWrite = true }
        while clock.now < deadline {
            let target = leaderGuess ?? order[rotation % order.count]
            let connection: ClientConnection
            do {
                connection = try await self.connection(to: target)
            } catch {
                leaderGuess = nil
                rotation += 1
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(100))
                continue
            }
            let response: ClientResponse
            do {
                response = try await connection.request(ClientRequest(id: takeID(), operation: op), timeout: config.attemptTimeout)
            } catch {
                drop(target)
                if isWrite { throw .timeout }  // it may have been applied
                leaderGuess = nil
                rotation += 1
                continue
            }
            switch response.outcome {
            case .failed(.notLeader(let leader)):
                if let leader, leader != target, config.endpoints[leader] != nil {
                    leaderGuess = leader
                } else {
                    leaderGuess = nil
                    rotation += 1
                    try? await Task.sleep(for: pause)  // an election is probably under way
                    pause = min(pause * 2, .milliseconds(100))
                }
            case .failed(.unavailable):
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(100))
            case .failed(let e):
                throw e
            default:
                leaderGuess = target
                return response.outcome
            }
        }
        throw .timeout
    }

    private func drop(_ node: NodeID) {
        if let c = connections.removeValue(forKey: node) {
            Task { await c.close() }
        }
    }

    private func connection(to node: NodeID) async throws -> ClientConnection {
        if let c = connections[node], c.isActive { return c }
        guard let address = config.endpoints[node] else { throw StoreError.invalidRequest("no endpoint for \(node)") }
        let handshake = Handshake.Configuration(clusterName: config.clusterName, localID: Handshake.clientID,
                                                secret: config.secret, knownPeers: Set(config.endpoints.keys),
                                                expectedPeer: node)
        let c = try await ClientConnection.connect(to: address, handshake: handshake, group: group, logger: logger,
                                                  timeout: config.attemptTimeout)
        connections[node] = c
        return c
    }
}

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

    func request(_ request: ClientRequest, timeout: Duration) async throws -> ClientResponse {
        let frame = ByteBuffer(bytes: Handshake.framed(ClientCodec.encode(request)))
        let handler = self.handler
        let channel = self.channel
        return try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<ClientResponse> in
            let promise = channel.eventLoop.makePromise(of: ClientResponse.self)
            handler.value.pending[request.id] = promise
            let task = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                handler.value.pending[request.id] = nil
                promise.fail(StoreError.timeout)
            }
            promise.futureResult.whenComplete { _ in task.cancel() }
            channel.writeAndFlush(frame).whenFailure { error in
                handler.value.pending[request.id] = nil
                promise.fail(error)
            }
            return promise.futureResult
        }.get()
    }

    func close() async {
        try? await channel.close()
    }
}

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
