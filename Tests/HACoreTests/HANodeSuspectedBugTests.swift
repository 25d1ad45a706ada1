import Testing
@testable import HACore

/// Inputs where `HANode` disagrees with its doc comment or DESIGN.md "The HA rules". Each test
/// asserts the expected behaviour inside `withKnownIssue`, so the suite passes while the bug
/// is there and fails (known issue not recorded) once it is fixed: then drop the wrapper.
@Suite struct HANodeSuspectedBugTests {
    /// pg_controldata's "in crash recovery" is only ever written by a server that started
    /// without standby.signal/recovery.signal after a crash, i.e. a primary's data (a standby
    /// recovers "in archive recovery"). `ControlData.lastRanAsPrimary` counts only shut down,
    /// shutting down and in production, so such a directory is treated as a standby's.
    @Test func inCrashRecoveryDataIsAFormerPrimaryOnAFollower() {
        var node = HANode()
        let local = Fx.down(.inCrashRecovery, process: .crashed(at: Fx.t(Fx.now - 10)))
        let actions = node.decide(Fx.follower(local: local))
        // actual: [setMayCampaign(false), startReplica(following: "a")] — follows without rewind
        withKnownIssue("'in crash recovery' data last ran as a primary but is started as a standby without pg_rewind") {
            #expect(actions == [Campaign.notStandby, .rewind(from: "a")])
        }
    }

    @Test func inCrashRecoveryDataIsAFormerPrimaryOnTheLeader() {
        var node = HANode()
        let local = Fx.down(.inCrashRecovery, process: .crashed(at: Fx.t(Fx.now - 10)))
        let actions = node.decide(Fx.leader(local: local))
        // actual: [setMayCampaign(false), startReplica(following: nil)]
        withKnownIssue("the leader's own crashed primary in 'in crash recovery' is restarted as a standby, not in place") {
            #expect(actions == [Campaign.notStandby, .startPrimary])
        }
    }

    @Test func inCrashRecoveryFormerPrimaryBehindTheTimelineStaysDownWithoutALeader() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3, newPrimary: "c"))
        let local = Fx.down(.inCrashRecovery, timeline: 2)
        let actions = node.decide(Fx.follower(leader: nil, cluster: cluster, local: local))
        // actual: [setMayCampaign(false), startReplica(following: nil)] — a diverged former
        // primary is started (and may then campaign) though timeline 3 exists
        withKnownIssue("a diverged 'in crash recovery' former primary is started while no leader is known") {
            #expect(actions == [Campaign.notStandby, .wait(reason: "no leader with a running Postgres is known")])
        }
    }

    /// After `primary_start_timeout` with nobody to hand over to, the leader waits forever: it
    /// never tries `startPrimary` again (primaryStartBegan is only reset when the primary runs
    /// or the node stops being leader, and setMayCampaign(false) does not make a leader step
    /// down). DESIGN.md invariant 5 (Progress) wants a primary as soon as one eligible Postgres
    /// can run; Patroni keeps restarting in place when no failover candidate exists.
    @Test func primaryStartTimeoutWithoutAReplicaStopsRetryingForever() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", state: .stopped)))
        let timeout = cluster.config.primaryStartTimeoutMs
        func decide(_ now: UInt64) -> [HAAction] {
            node.decide(Fx.leader(now: now, cluster: cluster, local: Fx.crashedPrimary())).withoutCampaign
        }
        #expect(decide(Fx.now) == [.startPrimary])
        #expect(decide(Fx.now + timeout)
                == [.wait(reason: "Postgres did not come up within primary_start_timeout and no replica can take over")])
        let anHourLater = decide(Fx.now + timeout + 3_600_000)
        // actual: still that wait, forever
        withKnownIssue("after primary_start_timeout with no replica to take over, the leader never restarts its primary") {
            #expect(anHourLater == [.startPrimary])
        }
    }

    /// A leader whose data directory is refused (another cluster's, or unusable) only fences and
    /// refuses; unlike a leader with an empty directory (`handOver`) it keeps Raft leadership,
    /// so no other member can become primary while it lives (invariant 5, Progress).
    @Test func refusedLeaderKeepsLeadership() {
        var node = HANode()
        let input = Fx.leader(local: Fx.stoppedStandby().withSysid(Fx.otherSysid))
        let actions = node.decide(input)
        // actual: [setMayCampaign(false), refuse(...)]
        #expect(actions.contains { $0.isRefuse })
        withKnownIssue("a leader that refuses its data directory never hands leadership to the healthy standbys b, c") {
            #expect(actions.contains { $0.isTransfer })
        }
    }

    /// Postgres is running (`process == .running`) but did not answer the query (`running ==
    /// nil`): neither a running primary nor a running standby, so the leader falls through to
    /// the "restart in place" rule and asks to start a postmaster that is already running.
    /// `startPrimary` is documented for a crashed or stopped primary only.
    @Test func leaderAsksToStartAnAlreadyRunningPostmaster() {
        var node = HANode()
        let local = LocalPostgres(dataDirectory: .initialized(Fx.control(.inProduction)), process: .running, running: nil)
        let actions = node.decide(Fx.leader(local: local))
        // actual: [setMayCampaign(false), startPrimary]
        withKnownIssue("a running but unanswering Postgres gets .startPrimary (and a standby's gets .startReplica)") {
            #expect(!actions.contains { $0.isStartPrimary })
        }
        var other = HANode()
        let standby = LocalPostgres(dataDirectory: .initialized(Fx.control(.inArchiveRecovery)), process: .running, running: nil)
        let standbyActions = other.decide(Fx.leader(local: standby))
        // actual: [setMayCampaign(false), startReplica(following: nil)]
        withKnownIssue("a running but unanswering standby on the leader gets .startReplica") {
            #expect(!standbyActions.contains(.startReplica(following: nil)))
        }
    }

    /// The lease lapses while the leader's own primary is still starting (its `startPrimary`
    /// was issued under the lease). The decision only fences a *running* primary, so it
    /// answers `wait` and the postmaster comes up writable without a lease; the next decision
    /// fences it, but in between it is a primary without a lease (invariant 1: "the primary
    /// runs only on the Raft leader while it holds a lease"). Same for a node that lost
    /// leadership with the start in flight (follower path: "Postgres is starting").
    @Test func leaseLapsesWhileOwnPrimaryIsStarting() {
        var node = HANode()
        let starting = Fx.down(.inProduction, process: .starting(since: Fx.t(Fx.now - 200)))
        #expect(node.decide(Fx.leader(now: Fx.now - 300, local: Fx.crashedPrimary())).withoutCampaign == [.startPrimary])
        let actions = node.decide(Fx.leader(lease: false, local: starting))
        // actual: [wait("leader, waiting for a quorum-renewed lease")]
        withKnownIssue("a primary being started when the lease lapses is not fenced until it is already accepting writes") {
            #expect(actions.contains { $0.isFence })
        }
    }

    /// pg_promote() (fast promotion) writes an end-of-recovery record but does not update
    /// pg_control's "Latest checkpoint's TimeLineID" until the (spread) checkpoint after
    /// promotion completes, which can take minutes. A freshly promoted leader whose primary
    /// crashes in that window has control.timeline 2 while the history row it wrote itself says
    /// timeline 3: the decision calls its own data diverged and hands leadership away (losing
    /// its unreplicated writes) or, with no candidate, waits forever. (Holds if the executor
    /// fills `ControlData.timeline` from "Latest checkpoint's TimeLineID", as documented, and
    /// does not force a CHECKPOINT after promotion.)
    @Test func freshlyPromotedPrimaryIsTakenForDiverged() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("a", timeline: 3), Fx.member("b", timeline: 3)),
                                 history: Fx.history(2, 3, newPrimary: "a"))
        let actions = node.decide(Fx.leader(cluster: cluster, local: Fx.crashedPrimary(timeline: 2)))
        // actual: [setMayCampaign(false), transferLeadership(to: "b", … "this node's data ends on timeline 2 but timeline 3 exists")]
        withKnownIssue("the leader's own newest promotion (history.last.newPrimary == me, timeline+1) is taken for divergence") {
            #expect(actions == [Campaign.notStandby, .startPrimary])
        }
    }

    /// Invariant 4 (Rejoin: "pg_rewind when it diverged"). The rewind decision looks only at
    /// pg_control's state, never at timelines: a former primary that was started in recovery
    /// while no leader was known (allowed: its data was on the newest timeline) is from then on
    /// "in archive recovery", so when another member is promoted past it (it missed that
    /// status round) it is just repointed (`follow`) or restarted as a standby
    /// (`startReplica(following:)`), though its WAL runs past the new timeline's fork point and
    /// it cannot stream. Patroni compares the replica's timeline and LSN with the primary's
    /// history before every start.
    @Test func divergedStandbyOfAnOldTimelineIsNeverRewound() {
        // "c" was primary on timeline 3 up to 0/7D0; "b" was promoted to timeline 4 at 0/5DC.
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("b", lsn: 3_000, timeline: 4), Fx.member("c", timeline: 3, lsn: 2_000)),
                                 history: [HistoryRow(timeline: 3, lsn: LSN(100), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "c"),
                                           HistoryRow(timeline: 4, lsn: LSN(1_500), atUnixMs: 0, reason: "failover", oldPrimary: "c", newPrimary: "b")])
        var running = Fx.runningReplica(following: "b", timeline: 3)
        running.running?.receivedLSN = LSN(2_000)
        running.running?.streaming = false
        var node = HANode()
        let repointed = node.decide(Fx.follower("c", leader: "b", cluster: cluster, local: running))
        // actual: [setMayCampaign(true, …running standby)] — nothing to do
        withKnownIssue("a standby whose timeline-3 WAL runs past timeline 4's fork point is kept following instead of rewound") {
            #expect(repointed.contains(.rewind(from: "b")))
        }
        var restarted = HANode()
        let stopped = restarted.decide(Fx.follower("c", leader: "b", cluster: cluster, local: Fx.down(.shutDownInRecovery, timeline: 3)))
        // actual: [setMayCampaign(false, …), startReplica(following: "b")]
        withKnownIssue("a stopped standby of an older timeline is started following the new primary without a rewind check") {
            #expect(stopped.contains(.rewind(from: "b")))
        }
    }
}
