import RaftCore

/// Handling a node's `Ready` the way a real runtime must, with a crash possible between
/// sending the early messages and persisting.
extension Simulation {
    mutating func processReady(_ i: Int) {
        guard nodes[i].isUp, !nodes[i].isPaused(at: time) else { return }
        if let write = nodes[i].persisting {
            if time < write.doneAt {
                // The write is under way: what may go early still goes (heartbeats above all).
                let early = nodes[i].raft!.takeMessagesToSendNow()
                _ = sendAll(early, from: i)
                return
            }
            nodes[i].persisting = nil
            if !finish(write.ready, on: i) { return }
        }
        guard nodes[i].raft!.hasReady else { return }
        let rd = nodes[i].raft!.ready()
        if !sendAll(rd.messages, from: i) { return }
        // A crash "mid-ready" strikes during a disk write: the first Ready with something to
        // persist, after its early messages went out.
        let writes = !rd.entries.isEmpty || rd.hardState != nil || rd.snapshot != nil
        if nodes[i].crashAtNextReady && writes {
            crash(i, reason: "mid-ready, \(rd.entries.count) entries and hard state not persisted")
            return
        }
        if writes && random.chance(options.faults.slowPersist) {
            // Asynchronous persistence, as the runtime does it: the node keeps running.
            nodes[i].persisting = (rd, time + random.int(in: options.faults.persistLength))
            stats.slowPersists += 1
            return
        }
        _ = finish(rd, on: i)
    }

    /// Persists `rd`, sends what waited for that, applies and advances. False if the node
    /// failed a check or crashed.
    mutating func finish(_ rd: Ready, on i: Int) -> Bool {
        let slot = nodes[i].slot
        // Persist: snapshot, entries (checking Log Matching on the way), hard state.
        let storage = nodes[i].storage
        if let s = rd.snapshot {
            storage.applySnapshot(s)
            stats.snapshotsInstalled += 1
        }
        var prev: Term? = rd.entries.first.flatMap { e in
            e.index.rawValue > 1 ? (try? storage.term(of: e.index - 1)) : .zero
        }
        for e in rd.entries {
            if let v = checker.observeStored(slot, e, prevTerm: prev, time: time) {
                fail(v)
                return false
            }
            prev = e.term
        }
        storage.append(rd.entries)
        if let hs = rd.hardState { storage.setHardState(hs) }
        if !sendAll(nodes[i].raft!.messagesAfterPersisting(rd), from: i) { return false }

        // Apply.
        if let s = rd.snapshot {
            nodes[i].kv = KVStore(snapshot: s.data)
            nodes[i].kvApplied = s.metadata.index
            note("node \(slot) installed snapshot at \(s.metadata.index.rawValue)")
        }
        for e in rd.committedEntries {
            if let v = checker.observeApplied(slot, e, term: nodes[i].raft!.currentTerm, time: time) {
                fail(v)
                return false
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
        if nodes[i].config.rejoinAfterDataLoss && !nodes[i].raft!.isRejoining {
            // Caught up after losing its disk: later restarts are ordinary (the runtime
            // removes its rejoin marker at this point).
            nodes[i].config.rejoinAfterDataLoss = false
        }
        if let failure = nodes[i].raft!.storageFailure {
            fail(Violation(property: "Storage", time: time, detail: "node \(slot) could not read entries it had stored: \(failure)"))
            return false
        }
        if let soft = rd.softState, soft.role != nodes[i].lastRole {
            nodes[i].lastRole = soft.role
            if soft.role == .leader {
                note("node \(slot) leads term \(nodes[i].raft!.currentTerm.rawValue)")
                // Membership changes right after an election (refused until the leader
                // commits in its term, then accepted).
                if !healing && random.chance(0.3) {
                    for _ in 0..<3 { agenda.push(.membershipChange, at: time + random.int(in: 1...40)) }
                }
            }
        }
        return true
    }

    /// Sends messages, checking that each promise is already durable. False on a violation.
    mutating func sendAll(_ messages: [Message], from i: Int) -> Bool {
        for m in messages {
            if let v = checker.checkPromise(m, sender: nodes[i].raft!, storage: nodes[i].storage, time: time) {
                fail(v)
                return false
            }
            if case .voteResponse(let r) = m.body, r.granted,
               let v = checker.observeVote(by: nodes[i].slot, disk: nodes[i].diskGeneration, term: m.term, for: m.to, time: time) {
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
        guard applied.rawValue >= snapIndex.rawValue + UInt64(snapshotEvery),
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
