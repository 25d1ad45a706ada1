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

    /// HA simulator, seed 20 in quorum mode: a standby that never ran as primary, stopped, on a
    /// timeline older than the newest, stayed down while no primary ran; its WAL position was
    /// one the `sync` claim's read quorum needed, so the leader could promote nobody, ever. It
    /// now starts in recovery (it cannot write; it is rewound once a primary runs, if it diverged).
    @Test func aStandbyBehindTheNewestTimelineStartsInRecoveryWhileNoPrimaryRuns() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a", timeline: 2), Fx.member("c", state: .stopped, lsn: nil)),
                                 history: Fx.history(2))
        #expect(node.decide(Fx.follower("b", cluster: cluster, local: Fx.stoppedStandby(timeline: 1))).withoutCampaign
                == [.startReplica(following: nil)])
        var former = HANode()
        #expect(former.decide(Fx.follower("b", cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 1))).withoutCampaign
                == [.wait(reason: "a former primary waits for the new primary before rewinding")],
                "a former primary on an old timeline may hold WAL nobody else has: it waits as before")
    }

    /// The same seed: the claim's own primary (it acknowledged under the `sync` key that is still
    /// current) stayed down because a later timeline exists. No later primary acknowledged a
    /// commit in a synchronous mode (it would have written its own claim first), so this node
    /// holds every acknowledged commit; it starts in recovery to be promoted again.
    @Test func theSyncClaimsOwnPrimaryStartsInRecoveryAlthoughALaterTimelineExists() {
        for mode in [SynchronousMode.on, .quorum, .off] {
            var cluster = Fx.cluster(members: Fx.members(Fx.member("a", timeline: 2), Fx.member("b", state: .stopped, lsn: nil)),
                                     history: Fx.history(2), config: Fx.config { $0.synchronousMode = mode })
            cluster.sync = SyncState(leader: "c", members: ["a", "b"], quorum: 1)
            var node = HANode()
            _ = node.decide(Fx.follower("c", cluster: cluster, local: Fx.crashedPrimary(timeline: 1)))
            let later = node.decide(Fx.follower("c", now: Fx.now + HANode.leaderlessStartDelayMs, cluster: cluster,
                                                local: Fx.crashedPrimary(timeline: 1))).withoutCampaign
            if mode == .off {
                #expect(later == [.wait(reason: "a former primary waits for the new primary before rewinding")], "off mode has no claim")
            } else {
                #expect(later == [.startReplica(following: nil)], "\(mode)")
            }
            // As the leader, with nobody the claim admits to hand over to, it does the same
            // instead of waiting (off mode has no claim: "a" qualifies and takes over).
            var leader = HANode()
            let asLeader = leader.decide(Fx.leader("c", cluster: cluster, local: Fx.crashedPrimary(timeline: 1))).withoutCampaign
            if mode == .off {
                #expect(asLeader.count == 1 && asLeader[0].isTransfer, "\(asLeader)")
            } else {
                #expect(asLeader == [.startReplica(following: nil)], "\(mode)")
            }
        }
    }

    /// HA simulator, seed 3757 in off mode: timeline 4's primary died before it recorded its
    /// row, so `history` showed 5 → 4 and then nothing; a standby on timeline 2 (not an
    /// ancestor of 5) was not recognised as diverged and never streamed again. A primary now
    /// asks for its ancestors' rows too (the executor reads them from its history file).
    @Test func aPrimaryWhoseAncestryHasAGapAsksForTheRows() {
        let row = { (tl: UInt32, parent: UInt32) in
            HistoryRow(timeline: tl, lsn: LSN(UInt64(tl) * 100), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "a", parent: parent)
        }
        var local = Fx.runningPrimary(timeline: 5)
        local.running?.slots = ["b", "c"]
        var node = HANode()
        let gap = Fx.cluster(history: [row(2, 1), row(5, 4)])
        #expect(node.decide(Fx.leader(cluster: gap, local: local)).withoutCampaign.contains(.recordPromotion(timeline: 5)))
        var complete = HANode()
        #expect(!complete.decide(Fx.leader(cluster: Fx.cluster(history: [row(4, 1), row(5, 4)]), local: local)).withoutCampaign
            .contains { $0.name == "recordPromotion" })
    }
}
