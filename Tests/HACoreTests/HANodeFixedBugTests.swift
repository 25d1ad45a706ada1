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
    /// row, again every `historyRetryMs` while it is missing.
    @Test func aPrimaryRecordsItsPromotionWhenHistoryLacksIt() {
        var node = HANode()
        let missing = Fx.cluster(history: Fx.history(2))
        var local = Fx.runningPrimary(timeline: 3)
        local.running?.slots = ["b", "c"]
        #expect(node.decide(Fx.leader(cluster: missing, local: local)).withoutCampaign == [.syncSlots(["b", "c"]), .recordPromotion(timeline: 3)])
        #expect(node.decide(Fx.leader(now: Fx.now + 250, cluster: missing, local: local)).withoutCampaign == [], "not on every cycle")
        #expect(node.decide(Fx.leader(now: Fx.now + HANode.historyRetryMs, cluster: missing, local: local)).withoutCampaign
                == [.recordPromotion(timeline: 3)])
        var recorded = HANode()
        #expect(!recorded.decide(Fx.leader(cluster: Fx.cluster(history: Fx.history(2, 3)), local: Fx.runningPrimary(timeline: 3)))
            .contains { $0.name == "recordPromotion" })
        var first = HANode()
        #expect(!first.decide(Fx.leader(local: Fx.runningPrimary(timeline: 1))).contains { $0.name == "recordPromotion" },
                "timeline 1 (bootstrap) has no promotion to record")
    }

    /// Found by the HA simulator (seed 3783, on mode): a primary on timeline 3 acknowledged
    /// commits before `history` showed timeline 3, then crashed; the next leader, whose data
    /// ended on timeline 2, restarted in place and lost them. In synchronous modes a primary
    /// now names no synchronous standby (its commits keep waiting on
    /// `SynchronousStandbyNames.none`) until its timeline's row is recorded.
    @Test func aSynchronousPrimaryAcknowledgesNothingBeforeItsTimelineIsInHistory() {
        let on = Fx.config { $0.synchronousMode = .on }
        var local = Fx.runningPrimary(timeline: 3)
        local.running?.slots = ["b", "c"]
        local.running?.synchronousStandbyNames = SynchronousStandbyNames.none
        var node = HANode()
        let unrecorded = node.decide(Fx.leader(cluster: Fx.cluster(history: Fx.history(2), config: on), local: local)).withoutCampaign
        #expect(unrecorded == [.syncSlots(["b", "c"]), .recordPromotion(timeline: 3)])
        let waiting = node.decide(Fx.leader(now: Fx.now + 250, cluster: Fx.cluster(history: Fx.history(2), config: on), local: local))
        #expect(waiting.withoutCampaign == [.wait(reason: "primary, recording its timeline in history before it acknowledges commits")])
        var recorded = HANode()
        let steps = recorded.decide(Fx.leader(cluster: Fx.cluster(history: Fx.history(2, 3), config: on), local: local)).withoutCampaign
        #expect(steps.contains { $0.name == "setSynchronousStandbyNames" || $0.name == "writeSync" },
                "once recorded, the sync planner names the standbys: \(steps)")
    }

    /// The other half of seed 3783: the store's `history` held timeline 3's row before
    /// timeline 2's (the primary of timeline 2 recorded its row late), so the last row said
    /// timeline 2 and a leader on timeline 2 restarted in place. The view sorts the rows.
    @Test func aLeaderBehindALaterTimelineDoesNotRestartInPlaceWhateverTheRowOrder() {
        var rows = Fx.history(3, newPrimary: "c") + Fx.history(2, newPrimary: "a")
        rows = HistoryRow.inTimelineOrder(rows)
        #expect(rows.map(\.timeline) == [2, 3])
        var node = HANode()
        let actions = node.decide(Fx.leader(cluster: Fx.cluster(history: rows), local: Fx.crashedPrimary(timeline: 2)))
        #expect(!actions.contains(.startPrimary), "\(actions)")
    }
}
