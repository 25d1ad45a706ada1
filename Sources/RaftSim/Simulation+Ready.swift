import RaftCore

/// Handling a node's `Ready` the way a real runtime must, with a crash possible between
/// sending the early messages and persisting.
extension Simulation {
    mutating func processReady(_ i: Int) {
        guard nodes[i].isUp, !nodes[i].isPaused(at: time), nodes[i].raft!.hasReady else { return }
        let slot = nodes[i].slot
        let rd = nodes[i].raft!.ready()
        if !sendAll(rd.messages, from: i) { return }
        // A crash "mid-ready" strikes during a disk write: the first Ready with something to
        // persist, after its early messages went out.
        if nodes[i].crashAtNextReady && (!rd.entries.isEmpty || rd.hardState != nil || rd.snapshot != nil) {
            crash(i, reason: "mid-ready, \(rd.entries.count) entries and hard state not persisted")
            return
        }
        // Persist: snapshot, entries (checking Log Matching on the way), hard state.
        let storage = nodes[i].storage
        if let s = rd.snapshot {
            storage.applySnapshot(s)
            stats.snapshotsInstalled += 1
        }
        for e in rd.entries {
            let prev = nodes[i].raft!.term(at: e.index - 1)
            if let v = checker.observeStored(slot, e, prevTerm: e.index.rawValue > 1 ? prev : .zero, time: time) {
                fail(v)
                return
            }
        }
        storage.append(rd.entries)
        if let hs = rd.hardState { storage.setHardState(hs) }
        if !sendAll(rd.messagesAfterPersist, from: i) { return }

        // Apply.
        if let s = rd.snapshot {
            nodes[i].kv = KVStore(snapshot: s.data)
            nodes[i].kvApplied = s.metadata.index
            note("node \(slot) installed snapshot at \(s.metadata.index.rawValue)")
        }
        for e in rd.committedEntries {
            if let v = checker.observeApplied(slot, e, term: nodes[i].raft!.currentTerm, time: time) {
                fail(v)
                return
            }
            apply(e, on: i)
        }
        for r in rd.readStates {
            if var pending = nodes[i].pendingReads[r.requestID] {
                pending.index = r.index
                nodes[i].pendingReads[r.requestID] = pending
            }
        }
        nodes[i].raft!.advance(rd)
        serveReads(i)
        maybeSnapshot(i)
        if let soft = rd.softState, soft.role != nodes[i].lastRole {
            nodes[i].lastRole = soft.role
            if soft.role == .leader {
                note("node \(slot) leads term \(nodes[i].raft!.currentTerm.rawValue)")
            }
        }
    }

    /// Sends messages, checking that each promise is already durable. False on a violation.
    mutating func sendAll(_ messages: [Message], from i: Int) -> Bool {
        for m in messages {
            if let v = checker.checkPromise(m, sender: nodes[i].raft!, storage: nodes[i].storage, time: time) {
                fail(v)
                return false
            }
            network.send(m, now: time, random: &random)
        }
        return true
    }

    mutating func apply(_ e: Entry, on i: Int) {
        nodes[i].kvApplied = e.index
        switch e.payload {
        case .configChange(let change, let m):
            note("node \(nodes[i].slot) applied \(change) => \(m)")
        case .normal(let data):
            guard let command = KVCommand(decoding: data) else { return }
            let observation = nodes[i].kv.apply(command)
            if let pending = nodes[i].pendingWrites.removeValue(forKey: command.tag) {
                complete(client: pending.client, op: pending.op, tag: command.tag, .ok(observation), via: nodes[i].slot)
            }
        }
    }

    mutating func serveReads(_ i: Int) {
        guard !nodes[i].pendingReads.isEmpty else { return }
        for tag in nodes[i].pendingReads.keys.sorted() {
            let r = nodes[i].pendingReads[tag]!
            guard let index = r.index, nodes[i].kvApplied >= index else { continue }
            nodes[i].pendingReads[tag] = nil
            complete(client: r.client, op: r.op, tag: tag, .ok(.get(nodes[i].kv.get(r.key))), via: nodes[i].slot)
        }
    }

    mutating func maybeSnapshot(_ i: Int) {
        let applied = nodes[i].kvApplied
        let storage = nodes[i].storage
        let snapIndex = storage.latestSnapshot.metadata.index
        guard applied.rawValue >= snapIndex.rawValue + UInt64(options.faults.snapshotEvery),
              applied <= storage.lastIndex(),
              let membership = nodes[i].raft!.membership(atIndex: applied) else { return }
        do {
            try storage.createSnapshot(at: applied, membership: membership, data: nodes[i].kv.snapshot())
            stats.snapshotsTaken += 1
        } catch {
            note("node \(nodes[i].slot) snapshot at \(applied.rawValue) failed: \(error)")
        }
    }

    mutating func crash(_ i: Int, reason: String) {
        nodes[i].crash()
        checker.forgetIncarnation(nodes[i].slot)
        stats.crashes += 1
        note("crash \(nodes[i].slot) (\(reason))")
        let down = healing ? 0 : random.int(in: options.faults.downtime)
        agenda.push(.restart(nodes[i].slot), at: time + max(1, down))
    }
}
