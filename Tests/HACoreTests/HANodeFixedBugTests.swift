import Testing
@testable import HACore

/// Inputs where `HANode` once disagreed with its own rules ("The HA rules" in its doc comment),
/// found by the table tests and fixed; kept as regression tests.
@Suite struct HANodeFixedBugTests {
    /// One writer: "a leader without a valid lease, or a follower whose Postgres is a primary,
    /// fences it". A postmaster the executor started as a primary that accepts connections
    /// (`process == .running`) but did not answer the status query (`running == nil`: a slow
    /// or overloaded server, a query timeout) may well be accepting writes, yet it is only
    /// fenced while `.starting` (`isStartingPrimary`) or once it answers (`isRunningPrimary`).
    /// The follower and the leader without a lease answer `wait` instead.
    @Test func unansweringPostmasterStartedAsPrimaryIsNotFencedOnAFollower() {
        var node = HANode()
        let actions = node.decide(Fx.follower(local: Fx.unanswering(.inProduction, startedAsPrimary: true)))
        // actual: [setMayCampaign(false), wait("Postgres runs but does not answer queries yet")]
        #expect(actions == [Campaign.notStandby, .fence(reason: "this node is not the Raft leader")])
    }

    @Test func unansweringPostmasterStartedAsPrimaryIsNotFencedWithoutALease() {
        var node = HANode()
        let actions = node.decide(Fx.leader(lease: false, local: Fx.unanswering(.inProduction, startedAsPrimary: true)))
        // actual: [setMayCampaign(false), wait("leader, waiting for a quorum-renewed lease")]
        #expect(actions == [Campaign.notStandby, .fence(reason: "leader without a valid lease")])
    }

    /// The cause fixed for the leader (pg_control's checkpoint timeline lags a promotion until
    /// the checkpoint after it) also affects the follower's "no usable upstream" rule: "a
    /// former primary stays down unless its data is the newest timeline". "a" promoted
    /// timeline 3 itself (the history's last row) and crashed before that checkpoint, so its
    /// control data says timeline 2; as a follower with no leader known it stays down, while
    /// as the leader it would restart in place (`freshlyPromotedPrimaryIsNotTakenForDiverged`).
    /// Down, it may not campaign, and the standbys (which lack its newest writes) win the
    /// election and the failover; started in recovery, it would campaign and win the status
    /// round (newest timeline, most WAL).
    @Test func freshlyPromotedFormerPrimaryStaysDownWithoutALeader() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b", timeline: 3), Fx.member("c", timeline: 3)),
                                 history: Fx.history(2, 3, newPrimary: "a"))
        _ = node.decide(Fx.follower("a", leader: nil, cluster: cluster, local: Fx.crashedPrimary(timeline: 2)))
        let actions = node.decide(Fx.follower("a", leader: nil, now: Fx.now + HANode.leaderlessStartDelayMs, cluster: cluster,
                                              local: Fx.crashedPrimary(timeline: 2)))
        #expect(actions == [.startReplica(following: nil)])
    }

    /// Found by the HA simulator: a primary whose promotion could not append its `history`
    /// row (the store was cut off) left a diverged standby unrecognised for good, since
    /// divergence is judged from the history's switch points. The primary asks for the missing
    /// row, again every `retryAfterMs` while it is missing.
    @Test func aPrimaryRecordsItsPromotionWhenHistoryLacksIt() {
        var node = HANode()
        let missing = Fx.cluster(history: Fx.history(2))
        var local = Fx.runningPrimary(timeline: 3)
        local.running?.slots = ["b", "c"]
        // The first decision syncs the slots; the row is asked for on an idle cycle.
        #expect(node.decide(Fx.leader(cluster: missing, local: local)).withoutCampaign == [.syncSlots(["b", "c"])])
        #expect(node.decide(Fx.leader(now: Fx.now + 250, cluster: missing, local: local)).withoutCampaign == [.recordPromotion(timeline: 3)])
        #expect(node.decide(Fx.leader(now: Fx.now + 1_000, cluster: missing, local: local)).withoutCampaign == [], "not on every cycle")
        #expect(node.decide(Fx.leader(now: Fx.now + 250 + HANode.retryAfterMs, cluster: missing, local: local)).withoutCampaign
                == [.recordPromotion(timeline: 3)])
        var recorded = HANode()
        #expect(!recorded.decide(Fx.leader(cluster: Fx.cluster(history: Fx.history(2, 3)), local: Fx.runningPrimary(timeline: 3)))
            .contains { $0.name == "recordPromotion" })
        var first = HANode()
        #expect(!first.decide(Fx.leader(local: Fx.runningPrimary(timeline: 1))).contains { $0.name == "recordPromotion" },
                "timeline 1 (bootstrap) has no promotion to record")
    }
}
