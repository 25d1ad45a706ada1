import Logging
import NIOCore
import NIOPosix
import RaftCore

/// Answers a status round: the agent's fresh member status as JSON, nil if it has none yet.
public typealias MemberStatusSource = @Sendable () async -> [UInt8]?

/// The store's client protocol endpoint: authenticated connections (the same framing and
/// HMAC handshake as peers, with node id 0 for clients) carrying `ClientRequest`s, each
/// answered with a `ClientResponse`. Requests on one connection may be answered out of order
/// (match them by id). Malformed requests close the connection with a log line (rate-limited
/// per reason, like the handshake's refusals).
///
/// Each connection has at most `maxRequestsInFlight` requests in flight; beyond that the server
/// stops reading from it until answers drain (see `ClientRequestHandler`), so memory per
/// connection stays bounded however many requests a client pipelines.
public actor ClientServer {
    /// The default bound on requests in flight per connection.
    public static let defaultMaxRequestsInFlight = 256

    private let runtime: RaftRuntime
    private let memberStatus: MemberStatusSource?
    private let handshake: Handshake.Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let counters = TransportCounterBox()
    private let requestCounterBox = ClientRequestCounterBox()
    private let maxRequestsInFlight: Int
    private var channel: (any Channel)?

    /// The bound on requests in flight per connection, as configured.
    public nonisolated var requestsInFlightLimit: Int { maxRequestsInFlight }
    /// Request load since start: in flight now, the per-connection peak, read pauses.
    public nonisolated var requestCounters: ClientRequestCounters { requestCounterBox.snapshot }
    /// Handshake refusals and frame errors since start (the transport's counters).
    public nonisolated var connectionCounters: TransportCounters { counters.snapshot }

    /// A server for `runtime`, authenticating clients of `clusterName` with `secret`, with at
    /// most `maxRequestsInFlight` requests in flight per connection. `memberStatus`, if given,
    /// answers `ClientRequest.Operation.memberStatus` (the agent beside this node).
    public init(runtime: RaftRuntime, clusterName: String, secret: [UInt8], group: any EventLoopGroup, logger: Logger,
                maxRequestsInFlight: Int = ClientServer.defaultMaxRequestsInFlight,
                memberStatus: MemberStatusSource? = nil) {
        self.memberStatus = memberStatus
        precondition(maxRequestsInFlight > 0, "ClientServer: maxRequestsInFlight must be positive")
        self.maxRequestsInFlight = maxRequestsInFlight
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
        let requestCounters = self.requestCounterBox, limit = self.maxRequestsInFlight, memberStatus = self.memberStatus
        let ch = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TransportPipeline.installAuthenticated(on: channel, handshake: handshake, maxFrameSize: 4 << 20,
                                                               handshakeTimeout: .seconds(2), counters: counters, logger: logger)
                    try channel.pipeline.syncOperations.addHandler(
                        ClientRequestHandler(runtime: runtime, memberStatus: memberStatus, maxInFlight: limit, counters: requestCounters,
                                             refusalLog: counters.refusalLog, logger: logger))
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
