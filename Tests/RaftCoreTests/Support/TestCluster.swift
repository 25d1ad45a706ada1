import Testing
@testable import RaftCore

/// A directed network link between two nodes.
struct Link: Hashable {
    var from: NodeID
    var to: NodeID
}

/// Several `RaftNode`s with in-memory storage and a message queue the test controls.
/// Readies are handled exactly as the `Ready` contract says: persist, send, apply, advance.
struct TestCluster {
    var nodes: [NodeID: RaftNode] = [:]
    var storages: [NodeID: MemoryStorage] = [:]
    var configs: [NodeID: RaftConfig] = [:]
    /// Committed entries each node applied, in order (a snapshot shows as its index only).
    var applied: [NodeID: [Entry]] = [:]
    var snapshotsApplied: [NodeID: [Snapshot]] = [:]
    var reads: [NodeID: [ReadState]] = [:]
    /// Messages sent and not yet delivered, in order.
    var queue: [Message] = []
    /// Every message ever sent, for assertions.
    var sent: [Message] = []
    var blocked: Set<Link> = []
    var down: Set<NodeID> = []

    /// A cluster whose voters are `ids` (and learners `learners`), all starting empty.
    init(_ ids: [UInt64], learners: [UInt64] = [], configure: (inout RaftConfig) -> Void = { _ in }) {
        let membership = Membership(voters: Set(ids.map { NodeID($0) }), learners: Set(learners.map { NodeID($0) }))
        for raw in ids + learners {
            var c = RaftConfig(id: NodeID(raw))
            configure(&c)
            add(c, storage: MemoryStorage(membership: membership))
        }
    }

    /// Adds a node with the given storage (a joining node passes empty storage).
    mutating func add(_ config: RaftConfig, storage: MemoryStorage) {
        configs[config.id] = config
        storages[config.id] = storage
        nodes[config.id] = try! RaftNode(config: config, storage: storage)
        applied[config.id, default: []] = applied[config.id] ?? []
    }

    subscript(_ id: UInt64) -> RaftNode {
        get { nodes[NodeID(id)]! }
        set { nodes[NodeID(id)] = newValue }
    }

    var ids: [NodeID] { nodes.keys.sorted() }

    /// Moves every node's clock past the start-up window in which it refuses to vote.
    mutating func warmUp() {
        for id in ids where nodes[id]!.now < UInt64(nodes[id]!.config.electionTicks) {
            nodes[id]!.now = UInt64(nodes[id]!.config.electionTicks)
        }
    }

    /// Handles one node's Ready as an application would.
    mutating func flushReady(_ id: NodeID) {
        guard !down.contains(id), nodes[id]!.hasReady else { return }
        let rd = nodes[id]!.ready()
        let storage = storages[id]!
        queue.append(contentsOf: rd.messages)
        sent.append(contentsOf: rd.messages)
        if let s = rd.snapshot {
            storage.applySnapshot(s)
            snapshotsApplied[id, default: []].append(s)
        }
        storage.append(rd.entries)
        if let hs = rd.hardState { storage.setHardState(hs) }
        queue.append(contentsOf: rd.messagesAfterPersist)
        sent.append(contentsOf: rd.messagesAfterPersist)
        applied[id, default: []].append(contentsOf: rd.committedEntries)
        reads[id, default: []].append(contentsOf: rd.readStates)
        nodes[id]!.advance(rd)
    }

    mutating func flushAll() {
        for id in ids { flushReady(id) }
    }

    /// Delivers one queued message (or drops it if its link is cut or a side is down).
    mutating func deliverNext() {
        let m = queue.removeFirst()
        if down.contains(m.to) || down.contains(m.from) || blocked.contains(Link(from: m.from, to: m.to)) { return }
        guard nodes[m.to] != nil else { return }
        nodes[m.to]!.step(m)
    }

    /// Runs until no node has anything to do and no message is in flight.
    mutating func stabilize(maxSteps: Int = 100_000) {
        var steps = 0
        while steps < maxSteps {
            flushAll()
            if queue.isEmpty && !ids.contains(where: { !down.contains($0) && nodes[$0]!.hasReady }) { return }
            while !queue.isEmpty && steps < maxSteps {
                deliverNext()
                steps += 1
            }
        }
    }

    /// Ticks one node `times` times, handling its Ready after each tick but delivering nothing.
    mutating func tick(_ id: UInt64, times: Int = 1) {
        for _ in 0..<times {
            nodes[NodeID(id)]!.tick()
            flushReady(NodeID(id))
        }
    }

    /// Ticks every live node `times` times, stabilizing after each round.
    mutating func tickAll(times: Int = 1) {
        for _ in 0..<times {
            for id in ids where !down.contains(id) { nodes[id]!.tick() }
            stabilize()
        }
    }

    /// Makes `id` campaign and runs the election to the end.
    mutating func elect(_ id: UInt64) {
        warmUp()
        try! nodes[NodeID(id)]!.campaign()
        stabilize()
    }

    mutating func propose(_ id: UInt64, _ text: String) throws(ProposalError) {
        try nodes[NodeID(id)]!.propose(Array(text.utf8))
    }

    /// Cuts every link to and from `id`.
    mutating func isolate(_ id: UInt64) {
        for other in ids where other != NodeID(id) {
            blocked.insert(Link(from: NodeID(id), to: other))
            blocked.insert(Link(from: other, to: NodeID(id)))
        }
    }

    mutating func cut(_ a: UInt64, _ b: UInt64) {
        blocked.insert(Link(from: NodeID(a), to: NodeID(b)))
        blocked.insert(Link(from: NodeID(b), to: NodeID(a)))
    }

    mutating func heal() { blocked = [] }

    /// Rebuilds a node from what its storage holds, as after a crash (unpersisted state is
    /// already gone: this fixture persists every Ready completely).
    mutating func restart(_ id: UInt64) {
        let nid = NodeID(id)
        nodes[nid] = try! RaftNode(config: configs[nid]!, storage: storages[nid]!)
        applied[nid] = []
        down.remove(nid)
    }

    /// The only leader among live nodes in the highest term, if exactly one.
    var leader: NodeID? {
        let leaders = ids.filter { !down.contains($0) && nodes[$0]!.currentRole == .leader }
        guard let top = leaders.max(by: { nodes[$0]!.currentTerm < nodes[$1]!.currentTerm }) else { return nil }
        return top
    }

    /// The application payloads `id` applied, as strings (empty leader entries skipped).
    func appliedStrings(_ id: UInt64) -> [String] {
        (applied[NodeID(id)] ?? []).compactMap { e in
            if case .normal(let d) = e.payload, !d.isEmpty { return String(decoding: d, as: UTF8.self) }
            return nil
        }
    }

    /// Messages of one kind sent since the given count of `sent`.
    func sentSince(_ mark: Int, kind: String) -> [Message] {
        sent[mark...].filter { $0.body.kind == kind }
    }
}

/// Builds a node over a storage pre-filled with `terms` (entry i+1 has term terms[i]), for
/// the paper's log scenarios.
func storageWithLog(terms: [UInt64], membership: Membership, hardTerm: UInt64? = nil) -> MemoryStorage {
    let s = MemoryStorage(membership: membership)
    s.append(terms.enumerated().map { Entry(term: Term($0.element), index: LogIndex(UInt64($0.offset + 1)), data: [UInt8($0.offset % 251)]) })
    s.setHardState(HardState(term: Term(hardTerm ?? terms.last ?? 0), vote: nil, commit: .zero))
    return s
}

/// The `ProposalError` thrown by `body`, or nil if it did not throw (any other error is
/// recorded as an issue).
func refusal(_ body: () throws -> Void) -> ProposalError? {
    do {
        try body()
        return nil
    } catch let e as ProposalError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
