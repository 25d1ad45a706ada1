import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore

/// The TCP transport between Raft members.
///
/// Each node listens for inbound connections from its peers and keeps one outbound
/// connection per peer for sending (`PeerConnection`): messages travel on the sender's
/// outbound connection, so each pair of nodes uses two TCP connections, one per direction.
/// Every connection starts with the mutual `Handshake` (shared secret, cluster name, node ids)
/// and carries only Raft messages once authenticated.
///
/// Guarantees:
/// - Bad input never reaches RaftCore and never stops the process: a failed handshake, an
///   oversize frame, an undecodable message, or a Raft frame before authentication closes that
///   connection with one warning (`peer.address`, `peer.node`, `reason`) and one counter.
/// - `onMessage` receives only well-formed messages whose `from` is the authenticated peer of
///   the connection and whose `to` is this node. It runs on an event-loop thread and must not
///   block: hand the message to the Raft runtime's own loop or queue and return.
/// - Memory is bounded: per peer at most `maxQueuedMessagesPerPeer` messages and
///   `maxQueuedBytesPerPeer` bytes wait for a connection, plus about 1 MiB in the socket
///   buffer; what does not fit is dropped and counted. Raft tolerates lost messages.
/// - Messages to one peer are sent in `send` order on one connection; a message is not
///   retransmitted if its connection breaks (Raft retries on its own).
/// - While running, a disconnected peer is redialled with backoff (100 ms doubling to 3 s,
///   with jitter, by default) forever.
///
/// Not yet: TLS (would wrap each connection; today a man in the middle who can modify traffic
/// could inject frames after the handshake), and per-peer rate limits on inbound connections.
public final class PeerTransport: Sendable {
    /// This node's id.
    public let nodeID: NodeID
    private let onPeerLost: @Sendable (NodeID) -> Void
    private let nextChunkedMessageID = NIOLockedValueBox<UInt64>(0)
    private let config: TransportConfig
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onMessage: @Sendable (Message) -> Void
    private let counterBox: TransportCounterBox
    private let state: NIOLockedValueBox<State>

    private enum Phase {
        case created
        case starting
        case running(server: any Channel)
        case stopped
    }

    private struct Inbound {
        var channel: any Channel
        var peer: NodeID?
    }

    private struct State {
        var phase: Phase = .created
        var peers: [NodeID: PeerAddress]
        var connections: [NodeID: PeerConnection] = [:]
        var inbound: [ObjectIdentifier: Inbound] = [:]
    }

    /// A transport that will listen and connect as `config` says, on `group`'s event loops.
    /// Nothing happens until `start()`; `send` before that queues within the bounds.
    ///
    /// - Parameter onMessage: called on an event-loop thread for every accepted message; must
    ///   not block (see the type's guarantees).
    /// - Parameter onPeerLost: called (on an event-loop thread, must not block) when an
    ///   authenticated connection to a peer closes: what was in flight on it is lost, and the
    ///   Raft node should stop streaming to that peer (`RaftRuntime.reportUnreachable`).
    public init(config: TransportConfig, group: any EventLoopGroup, logger: Logger,
                onPeerLost: @escaping @Sendable (NodeID) -> Void = { _ in },
                onMessage: @escaping @Sendable (Message) -> Void) {
        self.onPeerLost = onPeerLost
        self.nodeID = config.nodeID
        self.config = config
        self.group = group
        self.logger = logger
        self.onMessage = onMessage
        let counterBox = TransportCounterBox()
        self.counterBox = counterBox
        var peers = config.peers
        peers[config.nodeID] = nil
        var state = State(peers: peers)
        for (id, address) in peers {
            state.connections[id] = Self.makeConnection(to: id, at: address, config: config, group: group,
                                                        counters: counterBox, logger: logger, onPeerLost: onPeerLost,
                                                        onMessage: onMessage)
        }
        self.state = NIOLockedValueBox(state)
    }

    /// Validates the configuration, binds the listening socket and starts connecting to every
    /// peer. Returns once the socket listens (`listeningPort` is then set); connections to
    /// peers come up in the background.
    ///
    /// Throws `TransportError.invalidConfig`, `TransportError.alreadyStarted`, or the bind
    /// error (e.g. address in use; the transport can then be started again). Returns without
    /// listening if `shutdown()` ran concurrently.
    public func start() async throws {
        try config.validate()
        // (A typed-throws closure here crashed the 6.3.1 compiler in IRGen; return a flag instead.)
        let fresh: Bool = state.withLockedValue { s in
            guard case .created = s.phase else { return false }
            s.phase = .starting
            return true
        }
        guard fresh else { throw TransportError.alreadyStarted }
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 128)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // not .socketOption (SOL_SOCKET level)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try self.initializeInbound(channel)
                    }
                }
                .bind(host: config.listenHost, port: config.listenPort)
                .get()
        } catch {
            state.withLockedValue { s in
                if case .starting = s.phase { s.phase = .created }
            }
            throw error
        }
        let connections: [PeerConnection]? = state.withLockedValue { s in
            guard case .starting = s.phase else { return nil }
            s.phase = .running(server: server)
            return Array(s.connections.values)
        }
        guard let connections else {
            try? await server.close().get()
            return
        }
        for connection in connections { connection.start() }
        logger.info("transport listening", metadata: [
            "listen.address": "\(server.localAddress.map { "\($0)" } ?? "?")",
            "peers": "\(connections.count)",
        ])
    }

    /// The port the transport listens on, once `start()` returned and until `shutdown()`.
    public var listeningPort: Int? {
        state.withLockedValue { s in
            if case .running(let server) = s.phase { return server.localAddress?.port }
            return nil
        }
    }

    /// Sends `message` to the peer `message.to`. Never blocks and may be called from any
    /// thread; the write happens on the connection's event loop. The message is encoded and
    /// queued — as a run of chunk frames if it is larger than `maxFrameSize` — or dropped and
    /// counted (unknown peer, larger than `maxMessageSize`, queue full, transport shut down);
    /// returns whether it was queued. Delivery is best effort.
    @discardableResult
    public func send(_ message: Message) -> Bool {
        enum Route { case connection(PeerConnection), unknown, stopped }
        let route: Route = state.withLockedValue { s in
            if case .stopped = s.phase { return .stopped }
            guard let connection = s.connections[message.to] else { return .unknown }
            return .connection(connection)
        }
        let connection: PeerConnection
        switch route {
        case .connection(let c):
            connection = c
        case .unknown:
            counterBox.update { $0.messagesDroppedUnknownPeer += 1 }
            logger.debug("dropping message to a node that is not a peer", metadata: ["message.to": "\(message.to.rawValue)"])
            return false
        case .stopped:
            counterBox.update { $0.messagesDroppedStopped += 1 }
            return false
        }
        let frame = WireCodec.frame(message)
        let size = frame.count - WireCodec.frameHeaderSize
        if size <= config.maxFrameSize {
            return connection.enqueue(ByteBuffer(bytes: frame))
        }
        guard size <= config.maxMessageSize else {
            counterBox.update { $0.messagesDroppedTooLarge += 1 }
            logger.warning("dropping message larger than maxMessageSize", metadata: [
                "peer.node": "\(message.to.rawValue)", "message.kind": "\(message.body.kind)",
                "message.bytes": "\(size)", "limit": "\(config.maxMessageSize)",
            ])
            return false
        }
        // Too big for one frame (a large snapshot): a run of chunk frames, queued together.
        let id = nextChunkedMessageID.withLockedValue { $0 &+= 1; return $0 }
        let frames = MessageChunks.frames(for: Array(frame[WireCodec.frameHeaderSize...]), messageID: id,
                                          maxPayload: config.maxFrameSize)
        counterBox.update { $0.messagesChunked += 1 }
        return connection.enqueue(frames: frames)
    }

    /// Replaces the peer table. New peers get a connection (started if the transport runs);
    /// peers whose address changed are redialled at the new address; removed peers lose their
    /// outbound connection and queue (counted as `messagesDroppedUnknownPeer`) and their
    /// authenticated inbound connections are closed. New inbound handshakes use the new table.
    /// An entry for this node itself is ignored.
    public func updatePeers(_ peers: [NodeID: PeerAddress]) {
        var peers = peers
        peers[nodeID] = nil
        let work: (removed: [PeerConnection], added: [PeerConnection], changed: [(PeerConnection, PeerAddress)],
                   closeInbound: [any Channel], running: Bool)? = state.withLockedValue { s in
            if case .stopped = s.phase { return nil }
            s.peers = peers
            var removed: [PeerConnection] = []
            var added: [PeerConnection] = []
            var changed: [(PeerConnection, PeerAddress)] = []
            for (id, connection) in s.connections where peers[id] == nil {
                removed.append(connection)
                s.connections[id] = nil
            }
            for (id, address) in peers {
                if let connection = s.connections[id] {
                    changed.append((connection, address))
                } else {
                    let connection = makeConnection(to: id, at: address)
                    s.connections[id] = connection
                    added.append(connection)
                }
            }
            let closeInbound = s.inbound.values.filter { $0.peer.map { peers[$0] == nil } ?? false }.map(\.channel)
            let running: Bool
            if case .running = s.phase { running = true } else { running = false }
            return (removed, added, changed, closeInbound, running)
        }
        guard let work else { return }
        for connection in work.removed {
            connection.stop(removed: true)?.close(promise: nil)
        }
        for (connection, address) in work.changed {
            connection.updateAddress(address)
        }
        if work.running {
            for connection in work.added { connection.start() }
        }
        for channel in work.closeInbound {
            channel.close(promise: nil)
        }
    }

    /// Replaces the peer table from `(host, port)` tuples; see `updatePeers(_:)`.
    public func updatePeers(_ peers: [NodeID: (host: String, port: Int)]) {
        updatePeers(peers.mapValues { PeerAddress(host: $0.host, port: $0.port) })
    }

    /// A snapshot of the counters, with the current queue sizes.
    public var counters: TransportCounters {
        var counters = counterBox.snapshot
        let connections = state.withLockedValue { Array($0.connections.values) }
        for connection in connections {
            let depth = connection.queueDepth
            counters.queuedMessages += depth.messages
            counters.queuedBytes += depth.bytes
        }
        return counters
    }

    /// Stops listening, closes every connection, cancels reconnects and drops queued messages
    /// (counted as `messagesDroppedStopped`). Returns when the sockets are closed. Idempotent;
    /// `send` afterwards drops. Does not shut down the event loop group, which the caller owns.
    public func shutdown() async {
        let (server, connections, inbound): ((any Channel)?, [PeerConnection], [any Channel]) = state.withLockedValue { s in
            var server: (any Channel)?
            if case .running(let channel) = s.phase { server = channel }
            s.phase = .stopped
            let connections = Array(s.connections.values)
            let inbound = s.inbound.values.map(\.channel)
            s.connections = [:]
            s.inbound = [:]
            return (server, connections, inbound)
        }
        var closing: [EventLoopFuture<Void>] = []
        if let server { closing.append(server.close()) }
        for connection in connections {
            if let channel = connection.stop(removed: false) { closing.append(channel.close()) }
        }
        for channel in inbound { closing.append(channel.close()) }
        for future in closing {
            try? await future.get()
        }
    }

    // MARK: Internals

    private func makeConnection(to peer: NodeID, at address: PeerAddress) -> PeerConnection {
        Self.makeConnection(to: peer, at: address, config: config, group: group, counters: counterBox,
                            logger: logger, onPeerLost: onPeerLost, onMessage: onMessage)
    }

    private static func makeConnection(to peer: NodeID, at address: PeerAddress, config: TransportConfig,
                                       group: any EventLoopGroup, counters: TransportCounterBox, logger: Logger,
                                       onPeerLost: @escaping @Sendable (NodeID) -> Void,
                                       onMessage: @escaping @Sendable (Message) -> Void) -> PeerConnection {
        PeerConnection(peerID: peer, address: address, eventLoop: group.next(), config: config,
                       counters: counters, logger: logger, onPeerLost: onPeerLost, onMessage: onMessage)
    }

    /// Sets up an accepted channel (on its event loop): registers it for shutdown and installs
    /// the pipeline with the current peer table.
    private func initializeInbound(_ channel: any Channel) throws {
        let id = ObjectIdentifier(channel)
        let knownPeers: Set<NodeID>? = state.withLockedValue { s in
            switch s.phase {
            case .starting, .running:
                s.inbound[id] = Inbound(channel: channel, peer: nil)
                return Set(s.peers.keys)
            case .created, .stopped:
                return nil
            }
        }
        guard let knownPeers else { throw ChannelError.ioOnClosedChannel }
        channel.closeFuture.whenComplete { _ in
            self.state.withLockedValue { _ = $0.inbound.removeValue(forKey: id) }
        }
        let handshake = Handshake.Configuration(
            clusterName: config.clusterName, localID: nodeID, secret: config.secret,
            knownPeers: knownPeers, acceptClients: config.acceptClients, expectedPeer: nil)
        let events = ConnectionEventsHandler(onAuthenticated: { channel, peer in
            self.inboundAuthenticated(channel, peer: peer)
        })
        try TransportPipeline.install(
            on: channel, handshake: handshake, maxFrameSize: config.maxFrameSize, maxMessageSize: config.maxMessageSize,
            handshakeTimeout: TimeAmount(config.handshakeTimeout), counters: counterBox, logger: logger,
            extra: events, onMessage: onMessage)
    }

    /// Tags an inbound connection with its peer, or closes it if the peer was removed from the
    /// table during the handshake.
    private func inboundAuthenticated(_ channel: any Channel, peer: NodeID) {
        let keep: Bool = state.withLockedValue { s in
            let id = ObjectIdentifier(channel)
            guard s.inbound[id] != nil, peer == Handshake.clientID || s.peers[peer] != nil else { return false }
            s.inbound[id]?.peer = peer
            return true
        }
        if !keep { channel.close(promise: nil) }
    }
}
