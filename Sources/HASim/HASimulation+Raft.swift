import ClusterStore
import HACore
import RaftCore

/// The agent process's Raft runtime: ticks on the host's clock, persistence, the store state
/// machine, and store requests (proposed on the leader, forwarded to it from a follower).
extension HASimulation {
    /// Starts (or restarts) the agent process of host `h` from its durable Raft state; its
    /// Postgres is left as it is.
    mutating func startAgent(_ h: Int) {
        hosts[h].agentEpoch += 1
        let epoch = hosts[h].agentEpoch
        let storage = hosts[h].storage
        hosts[h].raft = try! RaftNode(config: hosts[h].raftConfig, storage: storage)
        hosts[h].store = (try? KeyValueStore(snapshot: storage.latestSnapshot.data)) ?? KeyValueStore()
        hosts[h].lastTickLocal = hosts[h].local(time)
        hosts[h].lastRole = .follower
        hosts[h].ha = HANode()
        hosts[h].ha.plantedBugs = options.plantedBugs
        hosts[h].cycleRunning = false
        hosts[h].wakePending = false
        hosts[h].statusRound = nil
        hosts[h].gathering = nil
        hosts[h].plan = nil
        hosts[h].deferredResume = nil
        hosts[h].activity = nil
        hosts[h].lastReported = nil
        hosts[h].lastReportAt = nil
        hosts[h].reportInFlight = false
        hosts[h].pendingStore = [:]
        hosts[h].proposedFor = [:]
        hosts[h].fenceArmedTerm = nil
        hosts[h].startedAsPrimary = hosts[h].pg.process != .stopped && !hosts[h].pg.inRecovery
        let phase = random.int(in: 1...Self.tickMs)
        queue.push(.tick(h, epoch: epoch), at: time + phase)
        queue.push(.loop(h, epoch: epoch), at: time + random.int(in: 1...Self.loopMs))
        queue.push(.fenceTick(h, epoch: epoch), at: time + random.int(in: 1...Self.fenceIntervalMs))
        note("\(hostName(h)) agent starts")
    }

    mutating func tick(_ h: Int) {
        hosts[h].raft!.tick()
        hosts[h].lastTickLocal = hosts[h].local(time)
        processReady(h)
    }

    /// Persists and sends what Raft asks for, applies committed entries, and wakes the HA loop
    /// on a role change (as `RaftRuntime.observeRoles` does).
    mutating func processReady(_ h: Int) {
        while let raft = hosts[h].raft, raft.hasReady {
            let rd = hosts[h].raft!.ready()
            for m in rd.messages { sendRaft(h, m) }
            let storage = hosts[h].storage
            if let s = rd.snapshot { storage.applySnapshot(s) }
            storage.append(rd.entries)
            if let hs = rd.hardState { storage.setHardState(hs) }
            for m in hosts[h].raft!.messagesAfterPersisting(rd) { sendRaft(h, m) }
            if let s = rd.snapshot { hosts[h].store = (try? KeyValueStore(snapshot: s.data)) ?? KeyValueStore() }
            for e in rd.committedEntries { apply(e, on: h) }
            hosts[h].raft!.advance(rd)
        }
        guard let raft = hosts[h].raft else { return }
        if raft.currentRole != hosts[h].lastRole || raft.currentTerm != hosts[h].lastTerm {
            if raft.currentRole == .leader { note("\(hostName(h)) leads term \(raft.currentTerm.rawValue)") }
            if hosts[h].lastRole == .leader && raft.currentRole != .leader { failProposals(h) }
            hosts[h].lastRole = raft.currentRole
            hosts[h].lastTerm = raft.currentTerm
            wake(h)
        }
    }

    mutating func sendRaft(_ h: Int, _ m: Message) {
        let to = Int(m.to.rawValue) - 1
        guard hosts.indices.contains(to) else { return }
        send(h, to, .raft, .raft(m))
    }

    mutating func apply(_ e: Entry, on h: Int) {
        guard case .normal(let data) = e.payload, !data.isEmpty, let command = try? StoreCommand(decoding: data) else {
            hosts[h].store.skip(e.index.rawValue)
            return
        }
        let result = hosts[h].store.apply(command, at: e.index.rawValue)
        let ok: Bool
        if case .ok = result { ok = true } else { ok = false }
        observeCommitted(command, at: e.index.rawValue, ok: ok)
        if let requester = hosts[h].proposedFor.removeValue(forKey: command.requestID) {
            if requester == h { storeCompleted(h, command.requestID, ok: ok) } else {
                send(h, requester, .agent, .storeReply(id: command.requestID, ok: ok))
            }
        }
    }

    /// The leader lost its role: its proposals will not be answered (the requesters time out
    /// or, here on the leader, fail at once).
    mutating func failProposals(_ h: Int) {
        let mine = hosts[h].proposedFor.filter { $0.value == h }.keys.sorted()
        hosts[h].proposedFor = [:]
        for id in mine { storeCompleted(h, id, ok: false) }
    }

    // MARK: Store requests

    /// Writes to the store from host `h`: proposed here when it leads, else sent to the leader
    /// it knows (none known: fails at once). `waiter` says what the answer is for.
    mutating func storeWrite(_ h: Int, _ operation: StoreCommand.Operation, _ waiter: StoreWaiter) -> UInt64 {
        let id = hosts[h].newRequestID()
        hosts[h].pendingStore[id] = waiter
        queue.push(.storeTimeout(h, epoch: hosts[h].agentEpoch, request: id),
                   at: time + hosts[h].globalDelay(Double(Self.requestTimeoutMs)))
        let raft = hosts[h].raft!
        if raft.currentRole == .leader {
            propose(on: h, id, operation, for: h)
        } else if waiter == .blocking {
            // The agent's decisions write through its own runtime (`RaftRuntime.put`), which
            // only a leader serves: a write decided before this node lost leadership fails at
            // once rather than reaching the new leader.
            queue.push(.storeTimeout(h, epoch: hosts[h].agentEpoch, request: id), at: time)
        } else if let leader = raft.currentLeader, Int(leader.rawValue) - 1 != h {
            send(h, Int(leader.rawValue) - 1, .agent, .storeRequest(id: id, operation: operation))
        } else {
            // No leader known: the client gives up on this attempt (the timeout answers).
        }
        return id
    }

    mutating func storeRequestArrived(_ h: Int, from: Int, _ id: UInt64, _ operation: StoreCommand.Operation) {
        guard hosts[h].raft!.currentRole == .leader else {
            send(h, from, .agent, .storeReply(id: id, ok: false))
            return
        }
        propose(on: h, id, operation, for: from)
    }

    mutating func propose(on h: Int, _ id: UInt64, _ operation: StoreCommand.Operation, for requester: Int) {
        let bytes = StoreCommand(requestID: id, operation: operation).encoded()
        do {
            try hosts[h].raft!.propose(bytes)
            hosts[h].proposedFor[id] = requester
            processReady(h)
        } catch {
            if requester == h { storeCompleted(h, id, ok: false) } else { send(h, requester, .agent, .storeReply(id: id, ok: false)) }
        }
    }

    /// A store request of host `h` finished (applied, refused, or timed out).
    mutating func storeCompleted(_ h: Int, _ id: UInt64, ok: Bool) {
        guard let waiter = hosts[h].pendingStore.removeValue(forKey: id) else { return }
        switch waiter {
        case .report(let status):
            hosts[h].reportInFlight = false
            if ok { hosts[h].lastReported = status } else { hosts[h].lastReportAt = nil }
        case .status:
            break
        case .blocking:
            storeStepDone(h, id, ok: ok)
        }
    }

    /// The omniscient record of what the store committed (the newest value by Raft index).
    mutating func observeCommitted(_ command: StoreCommand, at index: UInt64, ok: Bool) {
        guard ok else { return }
        let key: String, value: [UInt8]?
        switch command.operation {
        case .put(let k, let v, _): key = k; value = v
        case .delete(let k, _): key = k; value = nil
        }
        if key == ClusterKey.sync.path, index > committedSync.index {
            committedSync = (index, value.flatMap { ClusterState.decode(SyncState.self, $0) })
            checkSyncClaim()
        } else if key == ClusterKey.status.path, index > committedStatus.index {
            committedStatus = (index, value.flatMap { ClusterState.decode(PrimaryPosition.self, $0) })
        }
    }
}
