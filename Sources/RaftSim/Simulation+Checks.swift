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
        let voters = r.membership.voters.map { Int($0.rawValue) }.sorted()
        // Applied directly or inside a snapshot: either way the state machine has it.
        let missing = voters.filter { nodes[$0 - 1].kv.get(Self.probeKey) == nil }
        if !missing.isEmpty {
            fail(Violation(property: "Liveness", time: time,
                           detail: "a write offered after the faults stopped was not applied by voters \(missing) within \(options.healSteps) time units (leader \(l), \(r.status))"))
        }
    }
}
