import RaftCore

/// Everything a `PeerTransport` needs to know: who we are, whom to talk to, how to prove it,
/// and the bounds that keep a misbehaving peer or network from using unbounded memory.
///
/// The defaults are the production values; tests shrink them. `validate()` (called by
/// `PeerTransport.start()`) rejects values that cannot work.
public struct TransportConfig: Sendable {
    /// The reconnect schedule of an outbound connection: the first retry waits about
    /// `initial`, each failed attempt doubles the wait up to `maximum`, and a successful
    /// handshake resets it to `initial`.
    public struct Backoff: Hashable, Sendable {
        /// The wait before the first retry.
        public var initial: Duration
        /// The longest wait between two attempts.
        public var maximum: Duration
        /// The fraction of each wait that is random, 0...1: a wait `d` becomes a uniformly
        /// random value in `d * (1 - jitter) ... d`, so restarted nodes do not reconnect in
        /// lockstep.
        public var jitter: Double

        /// A schedule; the defaults are 100 ms doubling to 3 s with 50 % jitter.
        public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(3), jitter: Double = 0.5) {
            self.initial = initial
            self.maximum = maximum
            self.jitter = jitter
        }
    }

    /// The cluster's name. Both ends of a connection must use the same one, so that two
    /// clusters that share a network (and maybe a secret) never talk to each other.
    /// At most `Handshake.maxClusterNameBytes` UTF-8 bytes.
    public var clusterName: String
    /// This node's id; never 0 (0 means "client" in the handshake).
    public var nodeID: NodeID
    /// The shared secret every member holds; the handshake proves knowledge of it with
    /// HMAC-SHA256 without sending it. Must not be empty; 32 random bytes are recommended.
    public var secret: [UInt8]
    /// The address to listen on, e.g. `"0.0.0.0"` or `"127.0.0.1"`.
    public var listenHost: String
    /// The port to listen on; 0 picks a free port (read it from `PeerTransport.listeningPort`).
    public var listenPort: Int
    /// The other members and where they listen. An entry for `nodeID` itself is ignored.
    /// Change it at runtime with `PeerTransport.updatePeers(_:)`.
    public var peers: [NodeID: PeerAddress]
    /// The largest frame payload accepted or sent, in bytes (default 16 MiB). A larger
    /// incoming frame closes the connection; a larger outgoing message is dropped and counted.
    public var maxFrameSize: Int
    /// The largest message sent or accepted at all (default 1 GiB): a message over
    /// `maxFrameSize` (a big snapshot) travels as a run of chunk frames up to this size; a
    /// larger one is dropped and counted.
    public var maxMessageSize: Int = TransportConfig.defaultMaxMessageSize
    public static let defaultMaxMessageSize = 1 << 30
    /// The most bytes of framed messages queued for one peer (default 8 MiB). A single
    /// message larger than this is still accepted when the queue is empty.
    public var maxQueuedBytesPerPeer: Int
    /// The most messages queued for one peer (default 16 384).
    public var maxQueuedMessagesPerPeer: Int
    /// The reconnect schedule (default 100 ms doubling to 3 s, with jitter).
    public var reconnectBackoff: Backoff
    /// How long a connection may take to authenticate before it is closed (default 2 s).
    public var handshakeTimeout: Duration
    /// How long one TCP connect attempt may take (default 2 s).
    public var connectTimeout: Duration
    /// Whether the listening side accepts clients (handshake node id 0). `PeerTransport`
    /// delivers only Raft messages between members, so leave this `false` there; a client
    /// protocol server reusing the handshake sets it.
    public var acceptClients: Bool

    /// A configuration with the default bounds and timeouts.
    public init(
        clusterName: String,
        nodeID: NodeID,
        secret: [UInt8],
        listenHost: String = "0.0.0.0",
        listenPort: Int,
        peers: [NodeID: PeerAddress] = [:],
        maxFrameSize: Int = 16 << 20,
        maxQueuedBytesPerPeer: Int = 8 << 20,
        maxQueuedMessagesPerPeer: Int = 16_384,
        reconnectBackoff: Backoff = Backoff(),
        handshakeTimeout: Duration = .seconds(2),
        connectTimeout: Duration = .seconds(2),
        acceptClients: Bool = false
    ) {
        self.clusterName = clusterName
        self.nodeID = nodeID
        self.secret = secret
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.peers = peers
        self.maxFrameSize = maxFrameSize
        self.maxQueuedBytesPerPeer = maxQueuedBytesPerPeer
        self.maxQueuedMessagesPerPeer = maxQueuedMessagesPerPeer
        self.reconnectBackoff = reconnectBackoff
        self.handshakeTimeout = handshakeTimeout
        self.connectTimeout = connectTimeout
        self.acceptClients = acceptClients
    }

    /// Replaces the peer table with `(host, port)` tuples, the shape config files use.
    public mutating func setPeers(_ peers: [NodeID: (host: String, port: Int)]) {
        self.peers = peers.mapValues { PeerAddress(host: $0.host, port: $0.port) }
    }

    /// Throws `TransportError.invalidConfig` naming the first unusable field, if any.
    public func validate() throws(TransportError) {
        if clusterName.isEmpty {
            throw .invalidConfig("clusterName is empty")
        }
        if clusterName.utf8.count > Handshake.maxClusterNameBytes {
            throw .invalidConfig("clusterName is longer than \(Handshake.maxClusterNameBytes) bytes")
        }
        if nodeID == Handshake.clientID {
            throw .invalidConfig("nodeID is 0, which is reserved for clients; use 1 or more")
        }
        if secret.isEmpty {
            throw .invalidConfig("secret is empty; give every member the same random secret (32 bytes recommended)")
        }
        if !(0 ... 65535).contains(listenPort) {
            throw .invalidConfig("listenPort \(listenPort) is not in 0...65535")
        }
        for (id, address) in peers where id != nodeID {
            if id == Handshake.clientID {
                throw .invalidConfig("peer id 0 is reserved for clients")
            }
            if !(1 ... 65535).contains(address.port) {
                throw .invalidConfig("peer \(id) port \(address.port) is not in 1...65535")
            }
        }
        if maxFrameSize < 64 || UInt64(maxFrameSize) > UInt64(UInt32.max) {
            throw .invalidConfig("maxFrameSize \(maxFrameSize) is not in 64...\(UInt32.max)")
        }
        if maxMessageSize < maxFrameSize || UInt64(maxMessageSize) > UInt64(UInt32.max) {
            throw .invalidConfig("maxMessageSize \(maxMessageSize) is not in maxFrameSize (\(maxFrameSize))...\(UInt32.max)")
        }
        if maxQueuedBytesPerPeer < 1 || maxQueuedMessagesPerPeer < 1 {
            throw .invalidConfig("maxQueuedBytesPerPeer and maxQueuedMessagesPerPeer must be at least 1")
        }
        let b = reconnectBackoff
        if b.initial <= .zero || b.maximum < b.initial || !(0 ... 1).contains(b.jitter) {
            throw .invalidConfig("reconnectBackoff needs 0 < initial <= maximum and jitter in 0...1")
        }
        if handshakeTimeout <= .zero || connectTimeout <= .zero {
            throw .invalidConfig("handshakeTimeout and connectTimeout must be positive")
        }
    }
}
