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
/// Writes throw `StoreWriteError`, which says whether the write may have been applied: once a
/// write request has left the client, any failure without a definite answer (a timeout, the
/// connection closing, the node stopping after accepting it) is `outcomeUnknown`, and the
/// write is not retried, because it may have happened. Writes are retried on another node
/// only when the answer proves they were not applied (not leader, unavailable, the node was
/// stopped before accepting it) or when they were never sent. Reads throw `StoreError` and
/// are retried until `requestTimeout`.
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
        if case .value(let v) = try await read(.get(key: key, linearizable: linearizable)) { return v }
        throw .unavailable("unexpected answer")
    }

    public func list(prefix: String, linearizable: Bool = true) async throws(StoreError) -> (revision: UInt64, items: [KeyedValue]) {
        if case .list(let rev, let items) = try await read(.list(prefix: prefix, linearizable: linearizable)) { return (rev, items) }
        throw .unavailable("unexpected answer")
    }

    /// Sets `key`; with `expectedRevision`, only if the key's revision matches (0: absent).
    /// Returns the revision of the write.
    ///
    /// - Throws: `StoreWriteError.notApplied` when the write was not applied (for example
    ///   `revisionMismatch`); `.outcomeUnknown` when it may have been.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], expectedRevision: UInt64? = nil) async throws(StoreWriteError) -> UInt64 {
        try await write(.put(key: key, value: value, expectedRevision: expectedRevision))
    }

    /// Deletes `key`; with `expectedRevision`, only if the key's revision matches. Returns the
    /// revision of the delete. Throws like `put`.
    @discardableResult
    public func delete(_ key: String, expectedRevision: UInt64? = nil) async throws(StoreWriteError) -> UInt64 {
        try await write(.delete(key: key, expectedRevision: expectedRevision))
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

    /// The fresh member status of the agent beside `node` (JSON), asked directly with
    /// `timeout` for the whole attempt (connecting included).
    public func memberStatus(of node: NodeID, timeout: Duration) async throws(StoreError) -> [UInt8] {
        let id = takeID()
        let outcome: ClientResponse.Outcome
        do {
            outcome = try await withThrowingTaskGroup(of: ClientResponse.Outcome?.self) { group in
                group.addTask {
                    let conn = try await self.connection(to: node)
                    return try await conn.request(ClientRequest(id: id, operation: .memberStatus), timeout: timeout).outcome
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw StoreError.timeout }
                return first
            }
        } catch {
            drop(node)
            throw .unavailable("no status from \(node) within \(timeout): \(error)")
        }
        switch outcome {
        case .memberStatus(let json): return json
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

    /// What one attempt at one node came to.
    private enum Attempt {
        /// An answer to act on.
        case answered(ClientResponse.Outcome)
        /// The node could not be reached, or the request was not sent: try elsewhere.
        case notSent
        /// The request was sent and then the connection failed (closed, timed out).
        case lost(String)
    }

    private func attempt(_ op: ClientRequest.Operation, at target: NodeID) async -> Attempt {
        let connection: ClientConnection
        do {
            connection = try await self.connection(to: target)
        } catch {
            return .notSent
        }
        do {
            let response = try await connection.request(ClientRequest(id: takeID(), operation: op), timeout: config.attemptTimeout)
            return .answered(response.outcome)
        } catch is ClientConnection.RequestNotSent {
            drop(target)
            return .notSent
        } catch StoreError.timeout {
            drop(target)
            return .lost("no answer from node \(target.rawValue) within \(config.attemptTimeout)")
        } catch is ClientResponseHandler.ConnectionClosed {
            drop(target)
            return .lost("the connection to node \(target.rawValue) closed before it answered")
        } catch {
            drop(target)
            return .lost("the connection to node \(target.rawValue) failed before it answered (\(error))")
        }
    }

    /// Routing shared by reads and writes: the next node to ask, and the pause between tries.
    private struct Route {
        let order: [NodeID]
        var rotation: Int
        var pause: Duration = .milliseconds(20)

        init(order: [NodeID]) {
            self.order = order
            rotation = Int.random(in: 0..<order.count)
        }

        mutating func backOff() async {
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(100))
        }
    }

    private func target(_ route: Route) -> NodeID {
        leaderGuess ?? route.order[route.rotation % route.order.count]
    }

    /// Moves on to another node after `target` failed us.
    private func rotate(_ route: inout Route) {
        leaderGuess = nil
        route.rotation += 1
    }

    /// Follows a "not leader" answer from `target`.
    private func redirect(_ leader: NodeID?, from target: NodeID, _ route: inout Route) async {
        if let leader, leader != target, config.endpoints[leader] != nil {
            leaderGuess = leader
        } else {
            rotate(&route)
            await route.backOff()  // an election is probably under way
        }
    }

    /// Reads are retried on any failure until `requestTimeout`: they change nothing.
    private func read(_ op: ClientRequest.Operation) async throws(StoreError) -> ClientResponse.Outcome {
        let deadline = ContinuousClock.now + config.requestTimeout
        let order = config.endpoints.keys.sorted()
        guard !order.isEmpty else { throw .invalidRequest("no endpoints configured") }
        var route = Route(order: order)
        while ContinuousClock.now < deadline {
            let target = target(route)
            switch await attempt(op, at: target) {
            case .notSent, .lost, .answered(.outcomeUnknown):
                rotate(&route)
                await route.backOff()
            case .answered(.failed(.notLeader(let leader))):
                await redirect(leader, from: target, &route)
            case .answered(.failed(.unavailable)), .answered(.failed(.stopped)):
                rotate(&route)
                await route.backOff()
            case .answered(.failed(let e)):
                throw e
            case .answered(let outcome):
                leaderGuess = target
                return outcome
            }
        }
        throw .timeout
    }

    /// A write is sent until an answer settles it; once it was sent, a failure without an
    /// answer ends the attempt as `outcomeUnknown` (never retried: it may have happened).
    private func write(_ op: ClientRequest.Operation) async throws(StoreWriteError) -> UInt64 {
        let deadline = ContinuousClock.now + config.requestTimeout
        let order = config.endpoints.keys.sorted()
        guard !order.isEmpty else { throw .notApplied(.invalidRequest("no endpoints configured")) }
        var route = Route(order: order)
        var lastRefusal = "no node could be reached"
        while ContinuousClock.now < deadline {
            let target = target(route)
            switch await attempt(op, at: target) {
            case .notSent:
                rotate(&route)
                await route.backOff()
            case .lost(let why):
                throw .outcomeUnknown(reason: why)
            case .answered(.outcomeUnknown(let why)):
                throw .outcomeUnknown(reason: "node \(target.rawValue): \(why)")
            case .answered(.failed(.timeout)):
                // Servers answer a write's timeout with `outcomeUnknown`; stay safe if one does not.
                throw .outcomeUnknown(reason: "node \(target.rawValue) timed out")
            case .answered(.failed(.notLeader(let leader))):
                lastRefusal = "node \(target.rawValue) is not the leader"
                await redirect(leader, from: target, &route)
            case .answered(.failed(.unavailable(let why))):
                lastRefusal = "node \(target.rawValue) is unavailable: \(why)"
                await route.backOff()
            case .answered(.failed(.stopped)):
                lastRefusal = "node \(target.rawValue) is stopped"
                rotate(&route)
                await route.backOff()
            case .answered(.failed(let e)):
                throw .notApplied(e)
            case .answered(.written(let revision)):
                leaderGuess = target
                return revision
            case .answered:
                throw .outcomeUnknown(reason: "node \(target.rawValue) gave an unexpected answer to a write")
            }
        }
        throw .notApplied(.unavailable("no node accepted the write within \(config.requestTimeout) (last: \(lastRefusal))"))
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
