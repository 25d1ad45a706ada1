import RaftCore

/// Three (or more) `RaftNode`s over `MemoryStorage`, with messages passed through one
/// in-memory FIFO queue. No I/O, no clock, no threads: the benchmark thread drives everything.
///
/// Readies are handled as the `Ready` contract says: send `messages` (enqueue), persist the
/// snapshot, entries and hard state to the node's `MemoryStorage`, then send
/// `messagesAfterPersist`, apply `committedEntries` (the state machine is a counter of
/// applied proposals and their bytes), and `advance`.
///
/// `run()` alternates two phases until nothing is left to do: (1) handle one `Ready` of every
/// node that has one, (2) deliver every queued message, in the order sent. That is an event
/// loop that batches whatever arrived between two Readies, as a real node would.
///
/// Storage is compacted (`createSnapshot` at the applied index) whenever a node has applied
/// `compactEvery` entries past its last snapshot, so long runs stay bounded in memory. That
/// is only done by `compactIfDue()` when the cluster is quiet (every follower has every
/// entry), so the leader never needs to fall back to InstallSnapshot.
final class InMemoryCluster {
    private(set) var nodes: [RaftNode]
    let storages: [MemoryStorage]
    /// The state machine of node `i`: how many non-empty entries it applied, and their bytes.
    private(set) var appliedCount: [Int]
    private(set) var appliedBytes: [Int]
    /// The index into `nodes` of the leader (node id 1, elected in `init`).
    let leader = 0

    private var queue: [Message] = []
    private var delivering: [Message] = []
    let compactEvery: UInt64

    // Statistics, for sanity checks and the README.
    private(set) var messagesDelivered = 0
    private(set) var readiesHandled = 0
    private(set) var compactions = 0

    /// Builds a cluster of `size` voters with ids 1...size and elects node 1.
    init(size: Int = 3, compactEvery: UInt64 = 4096, configure: (inout RaftConfig) -> Void = { _ in }) throws {
        precondition(size >= 1)
        self.compactEvery = compactEvery
        let ids = (1...size).map { NodeID(UInt64($0)) }
        let membership = Membership(voters: Set(ids))
        storages = ids.map { _ in MemoryStorage(membership: membership) }
        var nodes: [RaftNode] = []
        for (i, id) in ids.enumerated() {
            var c = RaftConfig(id: id)
            // Only node 1 may campaign until it has won, so no other node's randomized timer
            // can start a competing election while the clocks are wound forward below.
            c.mayCampaign = i == 0
            configure(&c)
            nodes.append(try RaftNode(config: c, storage: storages[i]))
        }
        self.nodes = nodes
        appliedCount = Array(repeating: 0, count: size)
        appliedBytes = Array(repeating: 0, count: size)
        try electNode1()
        for i in nodes.indices where i != 0 { self.nodes[i].setMayCampaign(true) }
    }

    /// Nodes refuse to vote (and to campaign) for one election timeout after they start, so
    /// wind every clock past that, then make node 1 campaign and run the election to the end.
    private func electNode1() throws {
        let ticks = nodes.map(\.config.electionTicks).max()!
        for _ in 0..<ticks {
            for i in nodes.indices { nodes[i].tick() }
        }
        run()
        if nodes[0].currentRole != .leader {
            try nodes[0].campaign()
            run()
        }
        precondition(nodes[0].currentRole == .leader, "node 1 did not win the election")
        precondition(nodes.allSatisfy { $0.currentLeader == nodes[0].id }, "followers do not know the leader")
        precondition(nodes[0].appliedIndex == nodes[0].lastIndex, "the leader's first entry is not applied")
        // A follower whose first append response reaches the leader after the leader's
        // commit index moved never hears of that commit from the append path (RaftCore only
        // re-sends to a formerly paused follower when its match did *not* move; see
        // README.md, "Findings"). It learns it from the next heartbeat, so send one: one
        // leader tick is one heartbeat interval with the default `heartbeatTicks` of 1.
        for _ in 0..<nodes[0].config.heartbeatTicks { nodes[0].tick() }
        run()
        precondition(nodes.allSatisfy { $0.appliedIndex == nodes[0].lastIndex },
                     "the leader's first entry is not applied everywhere")
    }

    // MARK: Client side

    func propose(_ data: [UInt8]) throws(ProposalError) {
        try nodes[leader].propose(data)
    }

    func propose(batch: [[UInt8]]) throws(ProposalError) {
        try nodes[leader].propose(batch: batch)
    }

    // MARK: Driving

    /// Runs until no node has a `Ready` and no message is in flight: everything proposed is
    /// then committed and applied on every node, and every follower knows the commit index.
    func run(maxRounds: Int = 1_000_000) {
        var rounds = 0
        while true {
            var handled = false
            for i in nodes.indices where nodes[i].hasReady {
                handleReady(i)
                handled = true
            }
            if queue.isEmpty {
                if !handled { return }
                continue
            }
            swap(&queue, &delivering)
            for m in delivering {
                nodes[Int(m.to.rawValue) - 1].step(m)
            }
            messagesDelivered += delivering.count
            delivering.removeAll(keepingCapacity: true)
            rounds += 1
            precondition(rounds < maxRounds, "cluster did not settle")
        }
    }

    /// Handles one `Ready` of node `i` in the order the contract requires.
    private func handleReady(_ i: Int) {
        let rd = nodes[i].ready()
        let storage = storages[i]
        // 1. Messages that may go out before persisting.
        queue.append(contentsOf: rd.messages)
        // 2. Persist.
        if let s = rd.snapshot { storage.applySnapshot(s) }
        if !rd.entries.isEmpty { storage.append(rd.entries) }
        if let hs = rd.hardState { storage.setHardState(hs) }
        // 3. Messages that promise what was just persisted.
        queue.append(contentsOf: rd.messagesAfterPersist)
        // 4. Apply: the state machine is a counter.
        for e in rd.committedEntries {
            if case .normal(let d) = e.payload, !d.isEmpty {
                appliedCount[i] += 1
                appliedBytes[i] += d.count
            }
        }
        nodes[i].advance(rd)
        readiesHandled += 1
    }

    /// Snapshots and compacts every node that applied `compactEvery` entries since its last
    /// snapshot. Call only when the cluster is quiet (after `run()`).
    func compactIfDue() {
        for i in nodes.indices {
            let applied = nodes[i].appliedIndex
            let first = storages[i].firstIndex()
            guard applied.rawValue + 1 >= first.rawValue + compactEvery else { continue }
            let membership = nodes[i].membership(atIndex: applied) ?? nodes[i].membership
            var state: [UInt8] = []
            withUnsafeBytes(of: UInt64(appliedCount[i]).littleEndian) { state.append(contentsOf: $0) }
            do {
                try storages[i].createSnapshot(at: applied, membership: membership, data: state)
                compactions += 1
            } catch {
                preconditionFailure("createSnapshot at \(applied) on node \(i + 1): \(error)")
            }
        }
    }

    /// How many entries node `i`'s storage currently holds (for the memory-bound check).
    func storedEntries(_ i: Int) -> Int {
        Int(storages[i].lastIndex().rawValue + 1 - storages[i].firstIndex().rawValue)
    }
}
