import ClusterStore
import HACore

/// The properties, checked on the global clock by an observer that sees every host:
/// 1. **One Writer**: at no instant do two Postgres servers accept writes.
/// 2. **No Lost Commit** (`on`, `quorum`): every acknowledged commit is in the final primary's WAL.
/// 3. **Bounded Loss** (`off`): a failover's new primary is within `maximum_lag_on_failover` of
///    the last primary position the store recorded; what is lost is counted.
/// 4. **Progress**: after the faults stop, one primary, every other member streaming from it, and
///    a commit acknowledged, within `healMs`.
/// 5. **No Failover Tag**: a `nofailover` member is never promoted.
/// 6. **Sync Claim**: at every instant, every commit the `sync` key's leader acknowledged is on at
///    least `quorum` of its members — so the key and `synchronous_standby_names` changed in the
///    safe order.
/// 7. **Best Candidate** (`off`): a failover promotes a member whose WAL is at least as far as
///    every promotable member that answered its status round.
extension HASimulation {
    /// Check 1, after every event.
    mutating func checkWriters() {
        let writers = hosts.indices.filter { hosts[$0].hostRuns(at: time) && hosts[$0].pg.isRunningPrimary && !hosts[$0].pg.promoting }
        if writers.count > 1 {
            let leases = writers.map { w -> String in
                let l = hosts[w].lease.map { "term \($0.term.rawValue), \(Int($0.deadline - hosts[w].local(time))) ms left" } ?? "none"
                return "\(hostName(w)) (lease \(l), agent \(hosts[w].agentRuns(at: time) ? "running" : "frozen"))"
            }
            fail("One Writer", "\(writers.count) Postgres servers accept writes at once: \(leases.joined(separator: ", "))")
            return
        }
        let now = writers.first
        if now != writer {
            if let w = now { note("\(hostName(w)) accepts writes") }
            writer = now
        }
    }

    /// Check 6.
    mutating func checkSyncClaim() {
        guard options.mode != .off, let claim = committedSync.value, claim.quorum > 0,
              let x = index(of: claim.leader), let i = ackedIndex[x], i < hosts[x].pg.wal.count else { return }
        let record = hosts[x].pg.wal[i]
        let holders = claim.members.filter { m in index(of: m).map { $0 != x && hosts[$0].pg.holds(record, at: i) } ?? false }
        if holders.count < claim.quorum {
            fail("Sync Claim", "the sync key says every commit \(claim.leader) acknowledged is on \(claim.quorum) of \(claim.members), "
                 + "but its commit at \(record.end) is on \(holders.count) of them (ssn '\(hosts[x].pg.synchronousStandbyNames)')")
        }
    }

    /// Checks 3, 5 and 7, as host `h` starts a promotion decided on `input`.
    mutating func checkPromotion(_ h: Int, reason: String, _ input: HAInput) {
        if hosts[h].tags.noFailover {
            fail("No Failover Tag", "\(hostName(h)) is tagged nofailover and is being promoted (\(reason))")
            return
        }
        guard reason == "failover" else { return }
        let mine = hosts[h].pg.lastEnd
        if options.mode == .off, let s = committedStatus.value, s.timeline == hosts[h].pg.timeline {
            let behind = s.lsn.rawValue > mine ? s.lsn.rawValue - mine : 0
            if behind > config.maximumLagOnFailover {
                fail("Bounded Loss", "\(hostName(h)) is promoted \(behind) bytes behind the recorded primary position \(s.lsn) "
                     + "(maximum_lag_on_failover \(config.maximumLagOnFailover))")
                return
            }
            if let old = index(of: s.member), let acked = ackedIndex[old], acked < hosts[old].pg.wal.count {
                let end = hosts[old].pg.wal[acked].end
                if end > s.lsn.rawValue { stats.maxUnrecordedBytes = max(stats.maxUnrecordedBytes, end - s.lsn.rawValue) }
            }
        }
        if options.mode == .off, let round = input.statusRound, let me = round.statuses[hostName(h)], let myLSN = me.lsn {
            for s in round.statuses.values where s.name != me.name && s.role == .replica && s.state == .running
                && s.tags.mayBePromoted && s.timeline == me.timeline {
                if let lsn = s.lsn, lsn > myLSN {
                    fail("Best Candidate", "\(hostName(h)) (WAL \(myLSN)) is promoted although \(s.name) answered the status round with WAL \(lsn)")
                    return
                }
            }
        }
    }

    /// Checks 2 and 3 at the end, against the final primary.
    mutating func finalChecks() {
        guard let w = writer else { return }
        let final = hosts[w].pg
        for op in ackOrder {
            guard let a = acknowledged[op] else { continue }
            if final.holds(a.record, at: a.index) { continue }
            if options.mode == .off {
                stats.lostCommits += 1
                stats.lostBytes += a.record.end - previousEnd(a)
            } else {
                fail("No Lost Commit", "commit \(op) acknowledged by \(hostName(a.host)) at t=\(a.time)ms (WAL \(a.record.end), timeline \(a.record.timeline)) "
                     + "is not in the final primary \(hostName(w))'s WAL")
                return
            }
        }
    }

    private func previousEnd(_ a: Acknowledgement) -> UInt64 {
        // Commit records are 100–600 bytes; the acknowledging host may have been rewound since.
        let wal = hosts[a.host].pg.wal
        if a.index < wal.count, wal[a.index] == a.record, a.index > 0 { return wal[a.index - 1].end }
        return a.record.end - 100
    }

    // MARK: Health

    /// One primary; every other host a running standby streaming from it; in synchronous modes
    /// a `sync` claim that names a standby.
    func healthy() -> Bool {
        guard let w = writer, hosts[w].raft?.currentRole == .leader else { return false }
        for h in hosts.indices where h != w {
            let pg = hosts[h].pg
            guard hosts[h].agentRuns(at: time), pg.isRunningStandby, pg.stream?.upstream == w,
                  hosts[w].pg.senders[h] != nil else { return false }
        }
        if options.mode != .off {
            guard let c = committedSync.value, c.leader == hostName(w), c.quorum > 0 else { return false }
        }
        return true
    }

    func healthSummary() -> String {
        hosts.indices.map { h in
            let pg = hosts[h].pg
            let role = hosts[h].raft.map { "\($0.currentRole)" } ?? "down"
            return "\(hostName(h)): raft \(role), postgres \(pg.process) \(pg.inRecovery ? "standby" : "primary"), "
                + "stream \(pg.stream.map { hostName($0.upstream) } ?? "-"), upstream \(pg.upstream.map(hostName) ?? "-")"
        }.joined(separator: "; ") + "; sync \(committedSync.value.map { "\($0.leader) \($0.members) q\($0.quorum)" } ?? "none")"
    }
}
