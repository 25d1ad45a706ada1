import RaftCore

/// The checks run after every time unit, and liveness at the end.
extension Simulation {
    mutating func checkInvariants() {
        guard violation == nil else { return }
        var leaseHolders: [(NodeSlot, LeaderLease)] = []
        for n in nodes {
            guard let r = n.raft else { continue }
            if r.currentRole == .leader, let v = checker.observeLeader(n.slot, r, time: time) {
                fail(v)
                return
            }
            if let v = checker.observeCommit(n.slot, r.commitIndex, time: time) {
                fail(v)
                return
            }
            // Judge the lease on the global clock: a paused node's own clock is behind.
            if let lease = r.leaderLease, lease.expiresAtTick > n.trueTicks(at: time, every: Self.ticksEvery) {
                leaseHolders.append((n.slot, lease))
            }
        }
        for n in nodes where !n.isPaused(at: time) {
            // Event check: a node never believes in a lease that already ran out in real
            // time (a runtime must deliver missed ticks before anyone reads the lease).
            if let r = n.raft, let lease = r.leaderLease, lease.expiresAtTick <= n.trueTicks(at: time, every: Self.ticksEvery) {
                fail(Violation(property: "Stale Lease", time: time,
                               detail: "node \(n.slot) reports a lease until tick \(lease.expiresAtTick) at true tick \(n.trueTicks(at: time, every: Self.ticksEvery)) (its clock says \(r.localTick))"))
                return
            }
        }
        for (slot, _) in leaseHolders {
            // Event check: every voter that echoed the round the lease runs from still refuses
            // votes (the lease never outlives the refusal window of those who granted it).
            let r = nodes[slot - 1].raft!
            for v in r.leaseGrantors {
                let i = Int(v.rawValue) - 1
                guard nodes.indices.contains(i), let other = nodes[i].raft, !nodes[i].isPaused(at: time) else { continue }
                if other.grantsVotesNow {
                    fail(Violation(property: "Lease Refusal Window", time: time,
                                   detail: "node \(slot) holds a lease of term \(r.currentTerm.rawValue) that node \(v.rawValue) granted, but node \(v.rawValue) (term \(other.currentTerm.rawValue)) would already vote for another candidate"))
                    return
                }
            }
        }
        if leaseHolders.count > 1 {
            let who = leaseHolders.map { "node \($0.0) (term \($0.1.term.rawValue), until tick \($0.1.expiresAtTick))" }
            fail(Violation(property: "Lease Safety", time: time,
                           detail: "two leases at once: \(who.joined(separator: " and "))"))
        }
    }

    /// After the faults stop, a leader must have emerged and the probe write must have been
    /// applied by every voter of the leader's membership.
    mutating func checkLiveness() {
        guard options.healSteps > 0 else { return }
        guard let l = leaderSlot, let r = nodes[l - 1].raft else {
            fail(Violation(property: "Liveness", time: time,
                           detail: "no leader \(options.healSteps) time units after the faults stopped"))
            return
        }
        // Every member, learners too, must have caught up: a learner left behind would be a
        // voter left behind once promoted.
        let members = r.membership.allMembers.map { Int($0.rawValue) }.sorted()
        // Applied directly or inside a snapshot: either way the state machine has it.
        let missing = members.filter { nodes[$0 - 1].kv.get(Self.probeKey) == nil }
        if !missing.isEmpty {
            fail(Violation(property: "Liveness", time: time,
                           detail: "a write offered after the faults stopped was not applied by members \(missing) within \(options.healSteps) time units (leader \(l), \(r.status))"))
        }
    }
}
