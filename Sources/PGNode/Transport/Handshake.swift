import Crypto
import RaftCore

/// The mutual authentication that opens every pgha connection, as a pure state machine: no
/// sockets, no clocks, no randomness beyond the nonce it is given. `HandshakeHandler` runs it
/// on a channel; tests drive two instances against each other.
///
/// Both ends run the same three steps, so there is no client/server asymmetry:
///
/// 1. `start()`: send **Hello** — protocol version, cluster name, own node id, a fresh 32-byte
///    random nonce.
/// 2. On the peer's Hello: check version, cluster name and node id (not our own; a known peer,
///    or 0 = client where clients are accepted; the expected peer on an outbound connection),
///    then send **Proof** = HMAC-SHA256(secret, `"pgha-auth-v1"` | peer's nonce | own node id
///    as 8 bytes big-endian | cluster name as UTF-8).
/// 3. On the peer's Proof: recompute it for our nonce and the peer's id, compare in constant
///    time, then send **Accept**.
///
/// A side is `authenticated` once it has verified the peer's Proof *and* received the peer's
/// Accept, i.e. once each side has verified the other. A Proof binds the verifier's fresh
/// nonce (no replay) and the prover's own id (reflecting a node's Proof back at it fails,
/// because a peer may not claim the node's own id). The secret never crosses the wire.
///
/// Wire format (each is the payload of a `u32 big-endian length` frame, like Raft messages;
/// the type bytes 0xF0...0xF2 can never be confused with Raft message types 1...10):
///
/// | type | frame  | fields                                                                  |
/// |------|--------|-------------------------------------------------------------------------|
/// | 0xF0 | Hello  | version (1 byte), node id (varint), cluster name (byte string), nonce (32 bytes) |
/// | 0xF1 | Proof  | HMAC (32 bytes)                                                         |
/// | 0xF2 | Accept | (nothing)                                                               |
///
/// Any deviation — a Raft frame (type 1...10) or other unknown type before authentication, a
/// frame out of order, a malformed field — fails the handshake with a `FailureReason`, after
/// which the state machine ignores all further input. It does not protect the connection after
/// authentication against an active man in the middle; that needs TLS (future work).
public struct Handshake: Sendable {
    /// The protocol version this build speaks; a Hello with any other version is refused.
    public static let protocolVersion: UInt8 = 1
    /// The size of the random nonce in a Hello.
    public static let nonceSize = 32
    /// The size of an HMAC-SHA256 proof.
    public static let proofSize = 32
    /// Frame type byte of Hello.
    public static let helloType: UInt8 = 0xF0
    /// Frame type byte of Proof.
    public static let proofType: UInt8 = 0xF1
    /// Frame type byte of Accept.
    public static let acceptType: UInt8 = 0xF2
    /// The node id a client (not a cluster member) uses in its Hello.
    public static let clientID = NodeID(0)
    /// The longest cluster name, in UTF-8 bytes.
    public static let maxClusterNameBytes = 255
    /// The largest frame payload a connection accepts before it is authenticated; a Hello is
    /// at most 1 + 1 + 10 + 2 + 255 + 32 bytes. Keeps unauthenticated peers from making us
    /// buffer large frames.
    public static let maxFrameSize = 512
    /// The label at the start of every proof's input, so a proof can be used for nothing else.
    public static let proofLabel: [UInt8] = Array("pgha-auth-v1".utf8)

    /// What one side knows before the handshake: who it is, the shared secret, and whom it
    /// will accept.
    public struct Configuration: Sendable {
        /// The cluster name; the peer's must be byte-for-byte equal.
        public var clusterName: String
        /// Our own id; `Handshake.clientID` (0) when we are a client.
        public var localID: NodeID
        /// The shared secret; never sent.
        public var secret: [UInt8]
        /// The member ids we accept a Hello from (besides clients when `acceptClients`).
        public var knownPeers: Set<NodeID>
        /// Whether a Hello with node id 0 (a client) is accepted.
        public var acceptClients: Bool
        /// On an outbound connection, the node we meant to reach: a Hello naming anyone else
        /// fails with `unexpectedNode` (the address belongs to another node). `nil` accepts any
        /// known peer.
        public var expectedPeer: NodeID?

        /// A configuration; see the properties.
        public init(clusterName: String, localID: NodeID, secret: [UInt8], knownPeers: Set<NodeID>,
                    acceptClients: Bool = false, expectedPeer: NodeID? = nil) {
            self.clusterName = clusterName
            self.localID = localID
            self.secret = secret
            self.knownPeers = knownPeers
            self.acceptClients = acceptClients
            self.expectedPeer = expectedPeer
        }
    }

    /// Why a handshake failed. The raw values are stable names for logs and counters.
    public enum FailureReason: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// The peer speaks another protocol version.
        case wrongVersion
        /// The peer belongs to another cluster.
        case wrongCluster
        /// The peer's node id is not in our peer table.
        case unknownNode
        /// The peer claims our own node id.
        case selfNode
        /// The peer is a client (id 0) and clients are not accepted here.
        case clientNotAllowed
        /// On an outbound connection, the peer is a different node than the one we dialled.
        case unexpectedNode
        /// The peer's Proof does not match: it does not hold our secret.
        case badProof
        /// A Raft message arrived before the connection was authenticated.
        case frameBeforeAuthentication
        /// A handshake frame could not be parsed, or its type byte is unknown.
        case malformed
        /// A handshake frame arrived in the wrong order (e.g. Proof before Hello, or twice).
        case outOfOrder
        /// The handshake did not finish in time.
        case timeout
        /// The connection closed before the handshake finished (usually: the other side
        /// refused us and logged why).
        case closed

        /// The raw value.
        public var description: String { rawValue }
    }

    /// A failed handshake: the reason (for counters) and a sentence with the details (for logs).
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The category.
        public var reason: FailureReason
        /// What exactly was wrong, e.g. `peer is in cluster "b", we are in "a"`.
        public var detail: String

        /// A failure.
        public init(_ reason: FailureReason, _ detail: String) {
            self.reason = reason
            self.detail = detail
        }

        /// `reason: detail`.
        public var description: String { "\(reason): \(detail)" }
    }

    /// What the state machine asks its driver to do, in order.
    public enum Action: Hashable, Sendable {
        /// Send this frame payload (without the length prefix; see `framed(_:)`).
        case send([UInt8])
        /// The connection is authenticated: `peer` is the verified id of the other side (0 for a
        /// client). Comes exactly once, and never after `fail`.
        case authenticated(peer: NodeID)
        /// Close the connection, logging and counting the failure. Comes at most once.
        case fail(Failure)
    }

    /// Where the handshake is.
    public enum State: Hashable, Sendable {
        /// `start()` not called yet.
        case idle
        /// Hello sent, waiting for the peer's Hello.
        case awaitingHello
        /// Hello and Proof sent, waiting for the peer's Proof.
        case awaitingProof(peer: NodeID, peerNonce: [UInt8])
        /// Peer's Proof verified and Accept sent, waiting for the peer's Accept.
        case awaitingAccept(peer: NodeID)
        /// Both sides verified each other.
        case authenticated(peer: NodeID)
        /// Failed; all further input is ignored.
        case failed(Failure)
    }

    /// Who we are and whom we accept.
    public let configuration: Configuration
    /// Our nonce for this connection.
    public let nonce: [UInt8]
    /// The current state.
    public private(set) var state: State = .idle
    /// The node id the peer claimed in its Hello, verified or not (for logs); `nil` before a
    /// well-formed Hello.
    public private(set) var claimedPeer: NodeID?

    /// A handshake using `nonce`, which must be `nonceSize` bytes and never reused; tests pass
    /// fixed nonces, production code uses `init(configuration:)`.
    public init(configuration: Configuration, nonce: [UInt8]) {
        precondition(nonce.count == Self.nonceSize, "a handshake nonce has \(Self.nonceSize) bytes")
        self.configuration = configuration
        self.nonce = nonce
    }

    /// A handshake with a fresh nonce from the system's cryptographically secure generator.
    public init(configuration: Configuration) {
        var rng = SystemRandomNumberGenerator()
        self.init(configuration: configuration, nonce: (0 ..< Self.nonceSize).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    }

    /// The verified peer id once authenticated, else `nil`.
    public var authenticatedPeer: NodeID? {
        if case .authenticated(let peer) = state { return peer }
        return nil
    }

    /// Whether the handshake is over (authenticated or failed).
    public var isFinished: Bool {
        switch state {
        case .authenticated, .failed: return true
        default: return false
        }
    }

    /// Whether `typeByte` (a frame payload's first byte) belongs to the handshake.
    public static func isHandshakeFrame(typeByte: UInt8) -> Bool {
        typeByte >= helloType && typeByte <= acceptType
    }

    /// `payload` with its u32 big-endian length prefix, ready for the wire.
    public static func framed(_ payload: [UInt8]) -> [UInt8] {
        precondition(UInt64(payload.count) <= UInt64(UInt32.max))
        let n = UInt32(payload.count)
        return [UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16),
                UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] + payload
    }

    // MARK: Events

    /// Begins the handshake: returns our Hello. Call once, when the connection is up; a second
    /// call returns nothing.
    public mutating func start() -> [Action] {
        guard case .idle = state else { return [] }
        state = .awaitingHello
        return [.send(Self.encodeHello(version: Self.protocolVersion, nodeID: configuration.localID,
                                       clusterName: configuration.clusterName, nonce: nonce))]
    }

    /// Feeds one received frame payload (without the length prefix). Returns what to do; after
    /// `authenticated` the caller handles frames itself and must not call this again.
    public mutating func receive(_ payload: [UInt8]) -> [Action] {
        switch state {
        case .failed, .authenticated:
            return []
        case .idle:
            return fail(.outOfOrder, "received a frame before the handshake started")
        case .awaitingHello, .awaitingProof, .awaitingAccept:
            break
        }
        guard let type = payload.first else {
            return fail(.malformed, "empty frame")
        }
        if (1 ... 10).contains(type) {
            return fail(.frameBeforeAuthentication, "Raft message (type \(type)) before authentication")
        }
        switch type {
        case Self.helloType: return receiveHello(payload)
        case Self.proofType: return receiveProof(payload)
        case Self.acceptType: return receiveAccept(payload)
        default: return fail(.malformed, "unknown frame type \(type)")
        }
    }

    /// The handshake timer fired: fails with `timeout` unless already finished.
    public mutating func timedOut() -> [Action] {
        guard !isFinished else { return [] }
        return fail(.timeout, "not authenticated in time")
    }

    /// The connection closed: fails with `closed` unless already finished.
    public mutating func connectionClosed() -> [Action] {
        guard !isFinished else { return [] }
        return fail(.closed, "connection closed during the handshake")
    }

    // MARK: Steps

    private mutating func receiveHello(_ payload: [UInt8]) -> [Action] {
        guard case .awaitingHello = state else {
            return fail(.outOfOrder, "second Hello")
        }
        let hello: Hello
        switch Self.decodeHello(payload) {
        case .success(let h): hello = h
        case .failure(let f):
            state = .failed(f)
            return [.fail(f)]
        }
        claimedPeer = hello.nodeID
        let config = configuration
        if hello.clusterName != config.clusterName {
            return fail(.wrongCluster, "peer is in cluster \"\(hello.clusterName)\", we are in \"\(config.clusterName)\"")
        }
        if hello.nodeID == config.localID {
            return fail(.selfNode, "peer claims our own node id \(hello.nodeID)")
        }
        if hello.nodeID == Self.clientID {
            if !config.acceptClients {
                return fail(.clientNotAllowed, "peer is a client (node id 0); clients are not accepted here")
            }
        } else if !config.knownPeers.contains(hello.nodeID) {
            return fail(.unknownNode, "node \(hello.nodeID) is not in our peer list")
        }
        if let expected = config.expectedPeer, hello.nodeID != expected {
            return fail(.unexpectedNode, "dialled \(expected) but \(hello.nodeID) answered; check the peer addresses")
        }
        state = .awaitingProof(peer: hello.nodeID, peerNonce: hello.nonce)
        let proof = Self.proof(secret: config.secret, nonce: hello.nonce, prover: config.localID,
                               clusterName: config.clusterName)
        return [.send([Self.proofType] + proof)]
    }

    private mutating func receiveProof(_ payload: [UInt8]) -> [Action] {
        guard case .awaitingProof(let peer, _) = state else {
            return fail(.outOfOrder, "Proof before Hello or twice")
        }
        guard payload.count == 1 + Self.proofSize else {
            return fail(.malformed, "Proof of \(payload.count - 1) bytes, expected \(Self.proofSize)")
        }
        let ok = Self.isValidProof(payload[1...], secret: configuration.secret, nonce: nonce, prover: peer,
                                   clusterName: configuration.clusterName)
        guard ok else {
            return fail(.badProof, "proof from \(peer) does not match; the peer has a different secret")
        }
        state = .awaitingAccept(peer: peer)
        return [.send([Self.acceptType])]
    }

    private mutating func receiveAccept(_ payload: [UInt8]) -> [Action] {
        guard case .awaitingAccept(let peer) = state else {
            return fail(.outOfOrder, "Accept before our proof was checked")
        }
        guard payload.count == 1 else {
            return fail(.malformed, "Accept with \(payload.count - 1) extra bytes")
        }
        state = .authenticated(peer: peer)
        return [.authenticated(peer: peer)]
    }

    private mutating func fail(_ reason: FailureReason, _ detail: String) -> [Action] {
        let failure = Failure(reason, detail)
        state = .failed(failure)
        return [.fail(failure)]
    }

    // MARK: Proofs

    /// The proof that `prover` holds `secret`, answering the challenge `nonce`:
    /// HMAC-SHA256(secret, `proofLabel` | nonce | prover id (8 bytes big-endian) | cluster name).
    public static func proof(secret: [UInt8], nonce: [UInt8], prover: NodeID, clusterName: String) -> [UInt8] {
        let mac = HMAC<SHA256>.authenticationCode(for: proofInput(nonce: nonce, prover: prover, clusterName: clusterName),
                                                  using: SymmetricKey(data: secret))
        return Array(mac)
    }

    static func isValidProof(_ proof: ArraySlice<UInt8>, secret: [UInt8], nonce: [UInt8], prover: NodeID,
                             clusterName: String) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(Array(proof),
                                               authenticating: proofInput(nonce: nonce, prover: prover, clusterName: clusterName),
                                               using: SymmetricKey(data: secret))
    }

    static func proofInput(nonce: [UInt8], prover: NodeID, clusterName: String) -> [UInt8] {
        var input = proofLabel
        input.reserveCapacity(proofLabel.count + nonce.count + 8 + clusterName.utf8.count)
        input += nonce
        let id = prover.rawValue
        for shift in stride(from: 56, through: 0, by: -8) {
            input.append(UInt8(truncatingIfNeeded: id >> UInt64(shift)))
        }
        input += clusterName.utf8
        return input
    }
}
