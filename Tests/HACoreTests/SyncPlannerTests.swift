import Foundation
import Testing
@testable import HACore

/// The primary's synchronous-replication steps: the order that keeps the `sync` key's claim
/// true (widen what Postgres requires before the key names a member; weaken the key before
/// Postgres stops requiring a member).
@Suite struct SyncPlannerTests {
    static func row(_ name: String, flush: UInt64, state: String = "streaming", sync: String = "async") -> ReplicationRow {
        ReplicationRow(applicationName: name, state: state, syncState: sync, flushLSN: LSN(flush))
    }

    static func config(_ mode: SynchronousMode, strict: Bool = false, count: Int = 1, maxLag: Int64 = -1) -> DynamicConfig {
        Fx.config {
            $0.synchronousMode = mode
            $0.synchronousModeStrict = strict
            $0.synchronousNodeCount = count
            $0.maximumLagOnSyncnode = maxLag
        }
    }

    /// Runs the planner like the decision loop does, applying each step, until it has nothing
    /// to do; returns the steps in order.
    static func converge(_ planner: inout SyncPlanner, config: DynamicConfig, inEffect: inout String, claim: inout SyncState?,
                         wal: LSN, rows: [ReplicationRow], members: [String: MemberStatus] = Fx.healthyMembers) -> [SyncPlanner.Step] {
        var steps: [SyncPlanner.Step] = []
        var idle = 0
        for _ in 0..<20 {
            guard let step = planner.next(config: config, me: "a", inEffect: inEffect, wal: wal, replication: rows,
                                          members: members, current: claim) else {
                idle += 1
                if idle > 2 { break }
                continue
            }
            idle = 0
            steps.append(step)
            switch step {
            case .setNames(let n, _): inEffect = n
            case .writeState(let s, _): claim = s
            }
        }
        return steps
    }

    @Test func newPrimaryFirstClaimsNothingThenNamesItsStandbyThenClaimsItAfterTheBarrier() {
        var p = SyncPlanner()
        let cfg = Self.config(.on)
        var names = SynchronousStandbyNames.none
        var claim: SyncState? = SyncState(leader: "old", members: ["a"], quorum: 1)
        // Step 1: another leader's claim is replaced by an empty one of ours.
        #expect(p.next(config: cfg, me: "a", inEffect: names, wal: LSN(5_000), replication: [Self.row("b", flush: 5_000)],
                       members: Fx.healthyMembers, current: claim)
                == .writeState(SyncState(leader: "a", members: [], quorum: 0), reason: "a new primary claims nothing until its synchronous standbys are established"))
        claim = SyncState(leader: "a", members: [], quorum: 0)
        // b and c stream; b sorts first. The key first names b with no claim, then Postgres requires b.
        let rows = [Self.row("b", flush: 5_000), Self.row("c", flush: 5_000)]
        let first = p.next(config: cfg, me: "a", inEffect: names, wal: LSN(5_000), replication: rows, members: Fx.healthyMembers, current: claim)
        guard case .writeState(let mid?, _) = first else { Issue.record("expected a write, got \(String(describing: first))"); return }
        #expect(mid == SyncState(leader: "a", members: ["b"], quorum: 0))
        claim = mid
        let second = p.next(config: cfg, me: "a", inEffect: names, wal: LSN(5_000), replication: rows, members: Fx.healthyMembers, current: claim)
        guard case .setNames(let n, _) = second else { Issue.record("expected setNames, got \(String(describing: second))"); return }
        #expect(n == "FIRST 1 (\"b\")")
        names = n
        // Seen in effect: nothing yet (the barrier is taken one decision later), then the barrier
        // is 6_000; b has flushed only 5_500, so the claim waits.
        #expect(p.next(config: cfg, me: "a", inEffect: names, wal: LSN(6_000), replication: rows, members: Fx.healthyMembers, current: claim) == nil)
        let behind = [Self.row("b", flush: 5_500), Self.row("c", flush: 7_000)]
        #expect(p.next(config: cfg, me: "a", inEffect: names, wal: LSN(6_000), replication: behind, members: Fx.healthyMembers, current: claim) == nil)
        #expect(p.next(config: cfg, me: "a", inEffect: names, wal: LSN(7_000), replication: behind, members: Fx.healthyMembers, current: claim) == nil)
        let caughtUp = [Self.row("b", flush: 6_000), Self.row("c", flush: 7_000)]
        guard case .writeState(let full?, _) = p.next(config: cfg, me: "a", inEffect: names, wal: LSN(7_000), replication: caughtUp,
                                                       members: Fx.healthyMembers, current: claim) else {
            Issue.record("expected the full claim"); return
        }
        #expect(full == SyncState(leader: "a", members: ["b"], quorum: 1))
    }

    @Test func replacingASynchronousStandbyKeepsBothInTheClaimUntilTheNewOneCaughtUp() {
        var p = SyncPlanner()
        let cfg = Self.config(.on)
        var names = "FIRST 1 (\"b\")"
        var claim: SyncState? = SyncState(leader: "a", members: ["b"], quorum: 1)
        // b stopped streaming; c streams.
        let steps = Self.converge(&p, config: cfg, inEffect: &names, claim: &claim, wal: LSN(9_000), rows: [Self.row("c", flush: 9_000)])
        #expect(steps.count == 3)
        #expect(steps.first.map { if case .writeState(let s?, _) = $0 { return s == SyncState(leader: "a", members: ["b", "c"], quorum: 1) }; return false } == true)
        #expect(steps.dropFirst().first.map { if case .setNames(let n, _) = $0 { return n == "FIRST 1 (\"c\")" }; return false } == true)
        #expect(claim == SyncState(leader: "a", members: ["c"], quorum: 1))
        #expect(names == "FIRST 1 (\"c\")")
    }

    @Test func losingTheLastStandbyWeakensTheClaimBeforeCommitsStopWaiting() {
        var p = SyncPlanner()
        var names = "FIRST 1 (\"b\")"
        var claim: SyncState? = SyncState(leader: "a", members: ["b"], quorum: 1)
        let steps = Self.converge(&p, config: Self.config(.on), inEffect: &names, claim: &claim, wal: LSN(9_000), rows: [])
        guard case .writeState(let weak?, _)? = steps.first else { Issue.record("expected the claim weakened first: \(steps)"); return }
        #expect(weak.quorum == 0)
        #expect(names == "")
        #expect(claim == SyncState(leader: "a", members: [], quorum: 0))
    }

    @Test func strictModeHoldsCommitsWithoutAStandby() {
        var p = SyncPlanner()
        var names = "FIRST 1 (\"b\")"
        var claim: SyncState? = SyncState(leader: "a", members: ["b"], quorum: 1)
        _ = Self.converge(&p, config: Self.config(.on, strict: true), inEffect: &names, claim: &claim, wal: LSN(9_000), rows: [])
        #expect(names == SynchronousStandbyNames.none)
        #expect(claim == SyncState(leader: "a", members: [], quorum: 0))
    }

    @Test func quorumModeNamesEveryHealthyStandbyWithAnyK() {
        var p = SyncPlanner()
        var names = ""
        var claim: SyncState? = SyncState(leader: "a", members: [], quorum: 0)
        let rows = [Self.row("b", flush: 4_000), Self.row("c", flush: 4_000)]
        _ = Self.converge(&p, config: Self.config(.quorum), inEffect: &names, claim: &claim, wal: LSN(4_000), rows: rows)
        #expect(names == "ANY 1 (\"b\", \"c\")")
        #expect(claim == SyncState(leader: "a", members: ["b", "c"], quorum: 1))
        #expect(claim?.readQuorum == 2)
    }

    @Test func quorumClaimNeedsQuorumMembersPastTheBarrier() {
        var p = SyncPlanner()
        let cfg = Self.config(.quorum, count: 2)
        let members = Fx.members(Fx.primary("a"), Fx.member("b"), Fx.member("c"), Fx.member("d"))
        var names = ""
        var claim: SyncState? = SyncState(leader: "a", members: [], quorum: 0)
        // Only b reaches the barrier: the claim of 2 waits.
        let oneCaughtUp = [Self.row("b", flush: 8_000), Self.row("c", flush: 1_000), Self.row("d", flush: 1_000)]
        _ = Self.converge(&p, config: cfg, inEffect: &names, claim: &claim, wal: LSN(8_000), rows: oneCaughtUp, members: members)
        #expect(names == "ANY 2 (\"b\", \"c\", \"d\")")
        #expect(claim?.quorum == 0)
        let twoCaughtUp = [Self.row("b", flush: 8_000), Self.row("c", flush: 8_000), Self.row("d", flush: 1_000)]
        _ = Self.converge(&p, config: cfg, inEffect: &names, claim: &claim, wal: LSN(8_000), rows: twoCaughtUp, members: members)
        #expect(claim == SyncState(leader: "a", members: ["b", "c", "d"], quorum: 2))
    }

    @Test func laggingSyncStandbyIsReplacedOnlyWhenAnotherIsHealthy() {
        let cfg = Self.config(.on, maxLag: 1_000)
        let current = SyncState(leader: "a", members: ["b"], quorum: 1)
        let replaced = SyncPlanner.target(config: cfg, me: "a", wal: LSN(10_000), replication: [Self.row("b", flush: 2_000), Self.row("c", flush: 9_500)],
                                          members: Fx.healthyMembers, current: current)
        #expect(replaced.members == ["c"])
        let kept = SyncPlanner.target(config: cfg, me: "a", wal: LSN(10_000), replication: [Self.row("b", flush: 2_000), Self.row("c", flush: 1_000)],
                                      members: Fx.healthyMembers, current: current)
        #expect(kept.members == ["b"])
        // Without the limit the current synchronous standby stays (no churn).
        let sticky = SyncPlanner.target(config: Self.config(.on), me: "a", wal: LSN(10_000),
                                        replication: [Self.row("b", flush: 2_000), Self.row("c", flush: 9_500)], members: Fx.healthyMembers, current: current)
        #expect(sticky.members == ["b"])
    }

    @Test func nosyncAndSyncPriorityChooseTheStandby() {
        let members = Fx.members(Fx.primary("a"), Fx.member("b", tags: Tags(noSync: true)), Fx.member("c"),
                                 Fx.member("d", tags: Tags(syncPriority: 5)))
        let rows = [Self.row("b", flush: 1), Self.row("c", flush: 1), Self.row("d", flush: 1)]
        let t = SyncPlanner.target(config: Self.config(.on), me: "a", wal: LSN(1), replication: rows, members: members, current: nil)
        #expect(t.members == ["d"])
        let q = SyncPlanner.target(config: Self.config(.quorum), me: "a", wal: LSN(1), replication: rows, members: members, current: nil)
        #expect(q.members == ["c", "d"])
        #expect(q.names == "ANY 1 (\"c\", \"d\")")
    }

    @Test func aNoFailoverStandbyIsChosenOnlyWhenNoPromotableOneStreams() {
        // Found by the HA simulator (seed 5, on mode): a claim naming only a nofailover member
        // allows no failover at all.
        let members = Fx.members(Fx.primary("a"), Fx.member("b", tags: Tags(noFailover: true)), Fx.member("c"))
        let both = [Self.row("b", flush: 1), Self.row("c", flush: 1)]
        #expect(SyncPlanner.target(config: Self.config(.on), me: "a", wal: LSN(1), replication: both, members: members, current: nil).members == ["c"])
        let current = SyncState(leader: "a", members: ["b"], quorum: 1)
        #expect(SyncPlanner.target(config: Self.config(.on), me: "a", wal: LSN(1), replication: both, members: members, current: current).members == ["c"])
        #expect(SyncPlanner.target(config: Self.config(.on), me: "a", wal: LSN(1), replication: [Self.row("b", flush: 1)],
                                   members: members, current: nil).members == ["b"])
    }

    @Test func offDeletesTheKeyBeforeClearingTheSetting() {
        var p = SyncPlanner()
        var names = "FIRST 1 (\"b\")"
        var claim: SyncState? = SyncState(leader: "a", members: ["b"], quorum: 1)
        let steps = Self.converge(&p, config: Self.config(.off), inEffect: &names, claim: &claim, wal: LSN(1), rows: [Self.row("b", flush: 1)])
        #expect(steps == [.writeState(nil, reason: "synchronous_mode is off"), .setNames("", reason: "synchronous_mode is off")])
    }

    /// Property, over random histories (standbys streaming or not, flushing at random, the
    /// node count changing): every commit the primary acknowledged — released when the
    /// `synchronous_standby_names` in effect was satisfied (k of its names flushed it; "" at
    /// once; the blocker never) — is flushed on at least `quorum` of the claim's members, at
    /// every step.
    @Test func theClaimHoldsForEveryAcknowledgedCommitOverRandomHistories() {
        #expect(Self.violations(bug: nil) == [])
    }

    /// Each planted reordering is caught by the same random histories.
    @Test(arguments: [SyncPlanner.PlantedBug.claimWithoutBarrier, .claimBeforeNames])
    func plantedReorderingsAreFound(bug: SyncPlanner.PlantedBug) {
        #expect(!Self.violations(bug: bug).isEmpty, "the property test did not find the planted \(bug)")
    }

    /// The violations of the claim over 300 random histories (each described once).
    static func violations(bug: SyncPlanner.PlantedBug?) -> [String] {
        var found: [String] = []
        var rng = SplitMix64(seed: 42)
        let names = ["b", "c", "d"]
        let members = Fx.members(Fx.primary("a"), Fx.member("b"), Fx.member("c"), Fx.member("d"))
        for _ in 0..<300 {
            var p = SyncPlanner()
            p.plantedBug = bug
            let mode: SynchronousMode = rng.next() % 2 == 0 ? .on : .quorum
            var cfg = Self.config(mode, strict: rng.next() % 2 == 0, count: Int(rng.next() % 3) + 1)
            var inEffect = ""
            var claim: SyncState? = nil
            var wal: UInt64 = 1_000
            var flush: [String: UInt64] = ["b": 1_000, "c": 1_000, "d": 1_000]
            var pending: [UInt64] = [], acknowledged: [UInt64] = []
            for _ in 0..<80 {
                wal += 100
                pending.append(wal)
                let streaming = names.filter { _ in rng.next() % 4 != 0 }
                for n in streaming where rng.next() % 2 == 0 { flush[n] = wal }
                if rng.next() % 10 == 0 { cfg.synchronousNodeCount = Int(rng.next() % 3) + 1 }
                // Postgres releases the commits the names in effect are satisfied for.
                let req = Self.requirement(inEffect)
                pending.removeAll { lsn in
                    let released = inEffect.isEmpty
                        || (req.k > 0 && req.members.filter { (flush[$0] ?? 0) >= lsn }.count >= req.k)
                    if released { acknowledged.append(lsn) }
                    return released
                }
                let rows = streaming.map { Self.row($0, flush: flush[$0]!) }
                if let step = p.next(config: cfg, me: "a", inEffect: inEffect, wal: LSN(wal), replication: rows,
                                     members: members, current: claim) {
                    switch step {
                    case .setNames(let n, _): inEffect = n
                    case .writeState(let s, _): claim = s
                    }
                }
                if let c = claim, c.leader == "a", c.quorum > 0,
                   let lsn = acknowledged.first(where: { lsn in c.members.filter { (flush[$0] ?? 0) >= lsn }.count < c.quorum }) {
                    found.append("commit \(lsn) is on fewer than \(c.quorum) of \(c.members) (\(mode.rawValue), names \(inEffect))")
                    break
                }
            }
        }
        return found
    }

    /// k and the names of a rendered value (the blocker and "" require nothing nameable).
    static func requirement(_ names: String) -> (members: Set<String>, k: Int) {
        guard names != SynchronousStandbyNames.none, !names.isEmpty,
              let open = names.firstIndex(of: "("), let space = names.firstIndex(of: " ") else { return ([], 0) }
        let k = Int(names[names.index(after: space)..<open].trimmingCharacters(in: .whitespaces)) ?? 0
        let inner = names[names.index(after: open)..<names.index(before: names.endIndex)]
        let members = Set(inner.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) })
        return (members, k)
    }
}
