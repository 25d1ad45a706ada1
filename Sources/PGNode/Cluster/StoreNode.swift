import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore

/// One running node of the cluster store: the durable Raft log, the peer transport, the Raft
/// runtime on an event loop of its own, and the client endpoint. `pgha store run` runs one
/// alone; `pgha run` runs one beside the agent.
public final class StoreNode: Sendable {
    public let config: StoreNodeConfig
    public let runtime: RaftRuntime
    private let transport: PeerTransport
    private let clients: ClientServer
    private let raftLoop: MultiThreadedEventLoopGroup

    private init(config: StoreNodeConfig, runtime: RaftRuntime, transport: PeerTransport, clients: ClientServer,
                 raftLoop: MultiThreadedEventLoopGroup) {
        self.config = config
        self.runtime = runtime
        self.transport = transport
        self.clients = clients
        self.raftLoop = raftLoop
    }

    /// Opens the data directory and starts the node.
    ///
    /// A node whose data directory is empty first asks the cluster whether this node id
    /// acknowledged the log before (`ClusterKey.raftMember`); if it did, its disk was lost and
    /// starting it as the same voter could elect two leaders, so this throws `StartRefused`
    /// unless `rejoin` is set (it then neither votes nor campaigns until a leader has sent it
    /// the log again). `memberStatus` answers status rounds for the agent beside the node.
    public static func start(_ node: StoreNodeConfig, rejoin: Bool, group: any EventLoopGroup, logger: Logger,
                             memberStatus: MemberStatusSource? = nil) async throws -> StoreNode {
        let raftLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)  // the Raft loop does nothing else
        var runtimeConfig = node.runtimeConfig
        let fresh = DataDirectory.isEmpty(node.dataDirectory)
        let marker = DataDirectory.rejoinMarker(in: node.dataDirectory)
        let rejoinPending = FileManager.default.fileExists(atPath: marker)
        if fresh && !rejoin {
            try await refuseIfThisNodeLostItsData(node, group: group, logger: logger)
        }
        if rejoin && !fresh && !rejoinPending {
            throw StartRefused(reason: "--rejoin is for a node whose data directory is empty; \(node.dataDirectory) holds data: start without --rejoin")
        }
        if rejoin || rejoinPending {
            runtimeConfig.raft.rejoinAfterDataLoss = true
            logger.warning("rejoining after data loss: no votes and no campaign until the log caught up with a leader",
                           metadata: ["data_dir": "\(node.dataDirectory)"])
        }
        let storage = try DiskStorage(directory: node.dataDirectory,
                                      initialMembership: runtimeConfig.bootstrapMembership, logger: logger)
        if rejoin && !rejoinPending {
            // Kept until the node caught up, so a restart before then still rejoins.
            try DataDirectory.writeRejoinMarker(in: node.dataDirectory)
        }
        let runtimeSlot = NIOLockedValueBox<RaftRuntime?>(nil)
        var peers: [NodeID: PeerAddress] = [:]
        for p in node.peers where p.id != node.node { peers[p.id] = p.raft }
        let transport = PeerTransport(
            config: TransportConfig(clusterName: node.cluster, nodeID: node.node, secret: node.secret,
                                    listenHost: node.me.raft.host, listenPort: node.me.raft.port, peers: peers),
            group: group, logger: logger,
            onPeerLost: { peer in runtimeSlot.withLockedValue { $0 }?.reportUnreachable(peer) }) { message in
                runtimeSlot.withLockedValue { $0 }?.receive(message)
            }
        let runtime = try RaftRuntime(config: runtimeConfig, storage: storage, loop: raftLoop.next(), logger: logger,
                                      onRejoined: { try? DataDirectory.removeRejoinMarker(in: node.dataDirectory) }) { m in
            if !transport.send(m), case .installSnapshot = m.body {
                runtimeSlot.withLockedValue { $0 }?.reportSnapshotFailed(to: m.to)
            }
        }
        runtimeSlot.withLockedValue { $0 = runtime }
        try await transport.start()
        let clients = ClientServer(runtime: runtime, clusterName: node.cluster, secret: node.secret, group: group, logger: logger,
                                   memberStatus: memberStatus)
        try await clients.start(host: node.me.client.host, port: node.me.client.port)
        try await runtime.start()
        logger.info("store node ready", metadata: [
            "cluster": "\(node.cluster)", "raft.node": "\(node.node.rawValue)",
            "raft.listen": "\(node.me.raft)", "client.listen": "\(node.me.client)", "data_dir": "\(node.dataDirectory)"])
        return StoreNode(config: node, runtime: runtime, transport: transport, clients: clients, raftLoop: raftLoop)
    }

    /// Stops serving clients, the runtime (after writes under way are durable) and the transport.
    public func shutdown() async {
        await clients.shutdown()
        await runtime.shutdown()
        await transport.shutdown()
        try? await raftLoop.shutdownGracefully()
    }

    /// Before a node with an empty data directory bootstraps, asks the cluster whether this
    /// node id has acknowledged the log before (`ClusterKey.raftMember`). If so its disk was
    /// lost or emptied: coming back as the same voter could vote twice in a term, so it refuses
    /// to start and says what to do. If no leader answers within a few seconds (a new cluster
    /// starting), it goes on.
    static func refuseIfThisNodeLostItsData(_ node: StoreNodeConfig, group: any EventLoopGroup, logger: Logger) async throws {
        let endpoints = node.clientEndpoints(includingSelf: false)
        guard !endpoints.isEmpty else { return }
        var config = StoreClientConfig(clusterName: node.cluster, secret: node.secret, endpoints: endpoints)
        config.attemptTimeout = .milliseconds(500)
        config.requestTimeout = .seconds(3)
        var quiet = logger
        quiet.logLevel = .error
        let client = StoreClient(config: config, group: group, logger: quiet)
        let marker: VersionedValue?
        do {
            marker = try await client.get(ClusterKey.raftMember(node.node).path)
        } catch {
            await client.close()
            logger.notice("no leader answered about this node's past; starting as a new member", metadata: ["error": "\(error)"])
            return
        }
        await client.close()
        if marker != nil {
            throw StartRefused(reason: "node \(node.node.rawValue)'s data directory \(node.dataDirectory) is empty, but the "
                + "cluster says this node acknowledged its log before: it lost its Raft state (vote and log). Starting it "
                + "as the same voter could elect two leaders. Restore the directory, or start it with --rejoin (it then "
                + "votes only after a leader has sent it the log again); better still, remove it from the membership and "
                + "add it back as a learner.")
        }
    }
}

/// A node that must not start, and why (printed without the usage text).
public struct StartRefused: Error, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
