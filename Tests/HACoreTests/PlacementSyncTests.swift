import Foundation
import Testing
@testable import HACore

/// Placement's synchronous rule (the `sync` key's claim), `check_timeline` and the forced rules.
@Suite struct PlacementSyncTests {
    static func cluster(_ mode: SynchronousMode, sync: SyncState?, lastPrimaryLSN: UInt64? = nil,
                        history: [HistoryRow] = [], edit: (inout DynamicConfig) -> Void = { _ in }) -> ClusterView {
        var c = Fx.cluster(lastPrimaryLSN: lastPrimaryLSN, history: history, config: Fx.config {
            $0.synchronousMode = mode
            edit(&$0)
        })
        c.sync = sync
        return c
    }

    @Test func onModePromotesOnlyTheRecordedSynchronousStandby() {
        let c = Self.cluster(.on, sync: SyncState(leader: "a", members: ["c"], quorum: 1))
        let p = Placement(statuses: [Fx.member("b", lsn: 2_000), Fx.member("c", lsn: 1_000)], cluster: c)
        #expect(p.best?.name == "c")
        #expect(p.excluded["b"] == "not a synchronous standby of a (synchronous_mode on)")
    }

    @Test func noClaimMeansNoAutomaticPromotion() {
        let missing = Placement(statuses: [Fx.member("b")], cluster: Self.cluster(.on, sync: nil))
        #expect(missing.best == nil)
        #expect(missing.excluded["b"] == "synchronous_mode is on but no synchronous standby is recorded")
        let empty = Placement(statuses: [Fx.member("b")], cluster: Self.cluster(.on, sync: SyncState(leader: "a", members: ["b"], quorum: 0)))
        #expect(empty.best == nil)
        #expect(empty.excluded["b"]?.contains("had no synchronous standby") == true)
    }

    @Test func theClaimsOwnLeaderQualifies() {
        // Found by the HA simulator (seed 1, on mode): a primary that lost its standbys (empty
        // claim), then its lease, restarted as a standby and could never be promoted again,
        // although it holds every commit it acknowledged.
        let empty = Self.cluster(.on, sync: SyncState(leader: "a", members: [], quorum: 0))
        let p = Placement(statuses: [Fx.member("a", lsn: 1_000), Fx.member("b", lsn: 2_000)], cluster: empty)
        #expect(p.ranked.map(\.name) == ["a"])
        #expect(p.excluded["b"]?.contains("nobody else is sure to hold") == true)
        let claim = Self.cluster(.quorum, sync: SyncState(leader: "a", members: ["b", "c"], quorum: 1))
        #expect(Placement(statuses: [Fx.member("a", lsn: 1_000)], cluster: claim).best?.name == "a")
    }

    @Test func quorumNeedsNMinusQPlusOneAnswersAndTheHighestPosition() {
        // ANY 1 of b, c: every acknowledged commit is on b or c, so both must answer.
        let sync = SyncState(leader: "a", members: ["b", "c"], quorum: 1)
        let c = Self.cluster(.quorum, sync: sync)
        let one = Placement(statuses: [Fx.member("b", lsn: 3_000)], cluster: c)
        #expect(one.best == nil)
        #expect(one.excluded["b"] == "only 1 of the synchronous standbys (b, c) answered; 2 needed for quorum 1")
        let both = Placement(statuses: [Fx.member("b", lsn: 3_000), Fx.member("c", lsn: 4_000)], cluster: c)
        #expect(both.best?.name == "c")
        #expect(both.excluded["b"]?.hasPrefix("behind another synchronous standby") == true)
        // ANY 2 of b, c, d: any two answers suffice.
        let two = Self.cluster(.quorum, sync: SyncState(leader: "a", members: ["b", "c", "d"], quorum: 2))
        let p = Placement(statuses: [Fx.member("b", lsn: 5_000), Fx.member("d", lsn: 5_000)], cluster: two)
        #expect(p.ranked.map(\.name) == ["b", "d"])
    }

    @Test func aNoFailoverSynchronousStandbyAnswersForTheQuorumButIsNotPromoted() {
        let c = Self.cluster(.quorum, sync: SyncState(leader: "a", members: ["b", "c"], quorum: 1))
        let p = Placement(statuses: [Fx.member("b", lsn: 3_000, tags: Tags(noFailover: true)), Fx.member("c", lsn: 3_000)], cluster: c)
        #expect(p.best?.name == "c")
        // The quorum member that answered has more WAL: c must not be promoted.
        let q = Placement(statuses: [Fx.member("b", lsn: 4_000, tags: Tags(noFailover: true)), Fx.member("c", lsn: 3_000)], cluster: c)
        #expect(q.best == nil)
    }

    @Test func switchoverAndForcedRulesSkipTheClaim() {
        let c = Self.cluster(.on, sync: SyncState(leader: "a", members: ["c"], quorum: 1), lastPrimaryLSN: 50_000_000)
        #expect(Placement(statuses: [Fx.member("b", lsn: 49_900_000)], cluster: c, rules: .switchover).best?.name == "b")
        // Far behind: the lag rule still holds for a switchover's placement, not for a forced failover.
        let far = Fx.member("b", lsn: 1_000)
        #expect(Placement(statuses: [far], cluster: c, rules: .switchover).best == nil)
        #expect(Placement(statuses: [far], cluster: c, rules: .forced).best?.name == "b")
        #expect(Placement.bytesBehind(far, c) == 50_000_000 - 1_000)
        // Tags still hold when forced.
        #expect(Placement(statuses: [Fx.member("b", tags: Tags(noFailover: true))], cluster: c, rules: .forced).best == nil)
    }

    @Test func checkTimelineExcludesAReplicaOnAnOlderTimeline() {
        let c = Self.cluster(.off, sync: nil, history: Fx.history(2, 3)) { $0.checkTimeline = true }
        let p = Placement(statuses: [Fx.member("b", timeline: 2, lsn: 9_000), Fx.member("c", timeline: 3, lsn: 1_000)], cluster: c)
        #expect(p.best?.name == "c")
        #expect(p.excluded["b"] == "on timeline 2, older than timeline 3 (check_timeline)")
    }

    @Test func refusedMembersAreExcluded() {
        let p = Placement(statuses: [Fx.member("b", lsn: 9_000), Fx.member("c")], cluster: Fx.cluster(),
                          rules: Placement.Rules(refused: ["b": "its pre_promote hook refused"]))
        #expect(p.best?.name == "c")
    }
}

/// The leader's use of the rules: a `pre_promote` refusal hands over; a forced failover request.
@Suite struct HANodeCandidateRuleTests {
    static let downPrimary = Fx.members(Fx.member("a", role: .primary, state: .crashed, lsn: nil), Fx.member("b", lsn: 1_000),
                                        Fx.member("c", lsn: 1_000))

    @Test func aRefusedPromotionHandsLeadershipToTheNextCandidate() {
        var node = HANode()
        let round = Fx.round(Fx.member("b", lsn: 2_000), Fx.member("c", lsn: 1_000))
        let input = Fx.leader("b", cluster: Fx.cluster(members: Self.downPrimary), local: Fx.runningReplica(following: nil), round: round)
        #expect(node.decide(input).withoutCampaign == [.promote(reason: "failover", oldPrimary: nil)])
        node.record(.promoteRefused(at: Fx.t(Fx.now), reason: "pre_promote exited with status 1"))
        var later = input
        later.now = Fx.t(Fx.now + 10)
        #expect(node.decide(later).withoutCampaign.first?.name == "transferLeadership")
        if case .transferLeadership(let to, _, _)? = node.decide(later).withoutCampaign.first { #expect(to == "c") }
    }

    @Test func aFailoverToALaggingCandidateIsRefusedUnlessForced() {
        var cluster = Fx.cluster(members: Fx.members(Fx.primary("a", lsn: 90_000_000), Fx.member("b", lsn: 1_000), Fx.member("c")),
                                 lastPrimaryLSN: 90_000_000)
        cluster.failover = FailoverRequest(kind: .failover, candidate: "b", id: "x", requestedAtUnixMs: 0)
        var node = HANode()
        let actions = node.decide(Fx.leader(cluster: cluster, local: Fx.runningPrimary())).withoutCampaign
        guard case .clearFailover(let why)? = actions.first else { Issue.record("expected a refusal: \(actions)"); return }
        #expect(why.contains("bytes behind"))
        cluster.failover?.force = true
        var forced = HANode()
        #expect(forced.decide(Fx.leader(cluster: cluster, local: Fx.runningPrimary())).withoutCampaign.first?.name == "switchover")
    }
}

@Suite struct DynamicPostgresTests {
    @Test func roleParametersOverrideTheClusterWideOnesAndTheFileOverridesBoth() {
        let p = DynamicPostgres(parameters: ["work_mem": "4MB", "max_connections": "100"],
                                parametersPrimary: ["work_mem": "8MB"], parametersReplica: ["hot_standby_feedback": "on"])
        #expect(p.effective(primary: true, local: [:]) == ["work_mem": "8MB", "max_connections": "100"])
        #expect(p.effective(primary: false, local: ["max_connections": "200"])
                == ["work_mem": "4MB", "max_connections": "200", "hot_standby_feedback": "on"])
    }

    @Test func valuesMayBeNumbersAndBooleans() throws {
        let json = #"{"synchronous_mode": true, "postgresql": {"parameters": {"work_mem": 4096, "jit": false, "random_page_cost": 1.5}}}"#
        let c = try JSONDecoder().decode(DynamicConfig.self, from: Data(json.utf8))
        #expect(c.synchronousMode == .on)
        #expect(c.postgresql.parameters == ["work_mem": "4096", "jit": "off", "random_page_cost": "1.5"])
    }
}
