import Testing
@testable import HACore

@Suite struct HANodeFollowerTests {
    static let noUpstream = HAAction.wait(reason: "no leader with a running Postgres is known")

    @Test func followerRunningAPrimaryFences() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.runningPrimary()))
                == [Campaign.notStandby, .fence(reason: "this node is not the Raft leader")])
    }

    @Test func followerRunningAPrimaryFencesEvenWithoutALeaderOrBootstrap() {
        var node = HANode()
        #expect(node.decide(Fx.follower(leader: nil, cluster: Fx.cluster(sysid: nil), local: Fx.runningPrimary()))
                == [Campaign.unbootstrapped, .fence(reason: "this node is not the Raft leader")])
    }

    @Test func startingPostgresWaits() {
        var node = HANode()
        let local = Fx.down(process: .starting(since: Fx.t(Fx.now - 50)))
        #expect(node.decide(Fx.follower(local: local)) == [Campaign.notStandby, .wait(reason: "Postgres is starting")])
        #expect(node.decide(Fx.follower(local: Fx.starting(asPrimary: false, .inProduction))) == [.wait(reason: "Postgres is starting")])
    }

    /// A node that lost leadership with its `startPrimary` in flight: the postmaster is fenced
    /// before it accepts writes.
    @Test func postmasterBeingStartedAsPrimaryIsFenced() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.starting(asPrimary: true)))
                == [Campaign.notStandby, .fence(reason: "this node is not the Raft leader")])
        var other = HANode()
        #expect(other.decide(Fx.follower(local: Fx.starting(asPrimary: true, .shutDownInRecovery))).withoutCampaign
                == [.fence(reason: "this node is not the Raft leader")])
    }

    @Test func postmasterBeingStartedAsPrimaryIsFencedEvenWithoutALeaderOrBootstrap() {
        var node = HANode()
        let bootstrapping = LocalPostgres(dataDirectory: .empty, process: .starting(since: Fx.t(Fx.now - 10)), startedAsPrimary: true)
        #expect(node.decide(Fx.follower(leader: nil, cluster: Fx.cluster(sysid: nil), local: bootstrapping))
                == [Campaign.unbootstrapped, .fence(reason: "this node is not the Raft leader")])
    }

    @Test func runningButUnansweringFormerPrimaryIsFenced() {
        // "in production" while running: it may be a primary taking writes.
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.unanswering(.inProduction))).withoutCampaign
                == [.fence(reason: "this node is not the Raft leader")])
    }

    @Test(arguments: [ControlData.ClusterState.inArchiveRecovery, .shutDownInRecovery])
    func runningButUnansweringPostgresWaits(state: ControlData.ClusterState) {
        var node = HANode()
        let wait = HAAction.wait(reason: "Postgres runs but does not answer queries yet")
        #expect(node.decide(Fx.follower(local: Fx.unanswering(state))) == [Campaign.notStandby, wait])
        // whatever the upstream and the bootstrap state: nothing is started a second time
        #expect(node.decide(Fx.follower(leader: nil, local: Fx.unanswering(state))) == [wait])
        #expect(node.decide(Fx.follower(cluster: Fx.cluster(sysid: nil), local: Fx.unanswering(state))).withoutCampaign == [wait])
    }

    // MARK: No usable upstream

    @Test(arguments: [Fx.stoppedStandby(), Fx.down(.inArchiveRecovery, process: .crashed(at: Fx.t(1)))])
    func withoutALeaderAStoppedStandbyStartsInRecovery(local: LocalPostgres) {
        var node = HANode()
        #expect(node.decide(Fx.follower(leader: nil, local: local)) == [Campaign.notStandby, .startReplica(following: nil)])
    }

    @Test func withoutALeaderAFormerPrimaryOnTheNewestTimelineStartsInRecovery() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3))
        // First it waits for a leader to appear (a restart into a live cluster hears from one).
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 3)))
                == [Campaign.notStandby, .wait(reason: "no leader with a running Postgres is known")])
        #expect(node.decide(Fx.follower(leader: nil, now: Fx.now + HANode.leaderlessStartDelayMs, cluster: cluster,
                                        local: Fx.stoppedFormerPrimary(timeline: 3)))
                == [.startReplica(following: nil)])
    }

    @Test func aFormerPrimaryThatHearsOfALeaderInTimeIsNotStartedAlone() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3))
        _ = node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 3)))
        _ = node.decide(Fx.follower(leader: "a", now: Fx.now + 1_000, cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 3)))
        // The leader went away again: the wait starts over.
        #expect(node.decide(Fx.follower(leader: nil, now: Fx.now + HANode.leaderlessStartDelayMs, cluster: cluster,
                                        local: Fx.stoppedFormerPrimary(timeline: 3))).withoutCampaign
                == [.wait(reason: "no leader with a running Postgres is known")])
    }

    @Test func withoutALeaderOrHistoryAFormerPrimaryStartsInRecovery() {
        var node = HANode()
        _ = node.decide(Fx.follower(leader: nil, local: Fx.crashedPrimary(timeline: 1)))
        #expect(node.decide(Fx.follower(leader: nil, now: Fx.now + HANode.leaderlessStartDelayMs, local: Fx.crashedPrimary(timeline: 1)))
                == [.startReplica(following: nil)])
    }

    @Test func withoutALeaderAFormerPrimaryBehindTheNewestTimelineStaysDown() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3))
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 2)))
                == [Campaign.notStandby, Self.noUpstream])
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.crashedPrimary(timeline: 2))) == [Self.noUpstream])
        // "in crash recovery" last ran as a primary too
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.down(.inCrashRecovery, timeline: 2))) == [Self.noUpstream])
        #expect(node.decide(Fx.follower(leader: nil, cluster: Fx.cluster(history: Fx.history(2, 3, newPrimary: "c")),
                                        local: Fx.down(.inCrashRecovery, timeline: 2, process: .crashed(at: Fx.t(1))))) == [Self.noUpstream])
    }

    @Test func withoutALeaderAStandbyBehindTheNewestTimelineStillStarts() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3))
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.stoppedStandby(timeline: 1))).withoutCampaign
                == [.startReplica(following: nil)])
    }

    @Test func withoutALeaderAFailedStartBacksOff() {
        var node = HANode()
        node.record(.startFailed(at: Fx.t(Fx.now), reason: "x"))
        #expect(node.decide(Fx.follower(leader: nil, now: Fx.now + 4_999, local: Fx.stoppedStandby()))
                == [Campaign.notStandby, Self.noUpstream])
        #expect(node.decide(Fx.follower(leader: nil, now: Fx.now + 5_000, local: Fx.stoppedStandby()))
                == [.startReplica(following: nil)])
    }

    @Test(arguments: [Fx.runningReplica(following: "a"), Fx.emptyDir])
    func withoutALeaderOtherwiseWaits(local: LocalPostgres) {
        var node = HANode()
        #expect(node.decide(Fx.follower(leader: nil, local: local)).withoutCampaign == [Self.noUpstream])
    }

    @Test func leaderWithoutAReportIsNoUpstream() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b"), Fx.member("c")))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.emptyDir)) == [Campaign.notStandby, Self.noUpstream])
    }

    @Test(arguments: [PostgresRunState.stopped, .crashed, .starting, .creatingReplica, .rewinding, .initializing, .refused])
    func leaderWhosePostgresDoesNotRunIsNoUpstream(state: PostgresRunState) {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a", role: .primary, state: state), Fx.member("c")))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.emptyDir)) == [Campaign.notStandby, Self.noUpstream])
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedStandby())) == [.startReplica(following: nil)])
    }

    @Test func uninitializedLeaderIsNoUpstream() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a", role: .uninitialized, sysid: nil, timeline: nil, lsn: nil)))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.emptyDir)) == [Campaign.notStandby, Self.noUpstream])
    }

    // MARK: Empty directory

    @Test func emptyDirectoryIsRebuiltFromTheLeader() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.emptyDir)) == [Campaign.notStandby, .rebuild(from: "a")])
    }

    @Test func emptyDirectoryIsRebuiltEvenFromALeaderThatIsStillAStandby() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a")))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.emptyDir)).withoutCampaign == [.rebuild(from: "a")])
    }

    @Test func failedRebuildBacksOff() {
        var node = HANode()
        _ = node.decide(Fx.follower(local: Fx.emptyDir))
        node.record(.rebuildFailed(at: Fx.t(Fx.now), reason: "pg_basebackup: connection refused"))
        #expect(node.decide(Fx.follower(now: Fx.now + 4_999, local: Fx.emptyDir)) == [.wait(reason: "the base backup failed; retrying soon")])
        #expect(node.decide(Fx.follower(now: Fx.now + 5_000, local: Fx.emptyDir)) == [.rebuild(from: "a")])
    }

    @Test func repairedForgetsTheRebuildFailure() {
        var node = HANode()
        node.record(.rebuildFailed(at: Fx.t(Fx.now), reason: "x"))
        node.record(.repaired)
        #expect(node.decide(Fx.follower(local: Fx.emptyDir)).withoutCampaign == [.rebuild(from: "a")])
    }

    // MARK: Former primary: rewind or rebuild

    @Test(arguments: [Fx.stoppedFormerPrimary(), Fx.crashedPrimary(), Fx.down(.shuttingDown), Fx.down(.inProduction),
                      Fx.down(.inCrashRecovery), Fx.down(.inCrashRecovery, process: .crashed(at: Fx.t(Fx.now - 10)))])
    func stoppedFormerPrimaryIsRewoundFromARunningPrimaryLeader(local: LocalPostgres) {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: local)) == [Campaign.notStandby, .rewind(from: "a")])
    }

    @Test func formerPrimaryWaitsWhileTheLeaderIsStillAStandby() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a"), Fx.member("c")))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedFormerPrimary()))
                == [Campaign.notStandby, .wait(reason: "a former primary waits for the new primary before rewinding")])
    }

    @Test func formerPrimaryWithTheNewestDataStartsInRecoveryWhenNoPrimaryRuns() {
        // Found by the HA simulator (seed 5, on mode): the old primary held the only copy of
        // its commits, the leader could promote nobody, and the old primary waited for a new
        // primary forever. After leaderlessStartDelayMs it starts as a standby, so it can be
        // promoted again.
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a"), Fx.member("c")))
        let waiting = [HAAction.wait(reason: "a former primary waits for the new primary before rewinding")]
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedFormerPrimary())).withoutCampaign == waiting)
        #expect(node.decide(Fx.follower(now: Fx.now + HANode.leaderlessStartDelayMs - 1, cluster: cluster,
                                        local: Fx.stoppedFormerPrimary())).withoutCampaign == waiting)
        #expect(node.decide(Fx.follower(now: Fx.now + HANode.leaderlessStartDelayMs, cluster: cluster,
                                        local: Fx.stoppedFormerPrimary())).withoutCampaign == [.startReplica(following: nil)])
    }

    @Test func failedRewindLeadsToRebuild() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.stoppedFormerPrimary())).withoutCampaign == [.rewind(from: "a")])
        node.record(.rewindFailed(at: Fx.t(Fx.now), reason: "could not find common ancestor"))
        #expect(node.decide(Fx.follower(now: Fx.now + 1, local: Fx.stoppedFormerPrimary())) == [.rebuild(from: "a")])
    }

    @Test func failedRewindThenFailedRebuildBacksOff() {
        var node = HANode()
        node.record(.rewindFailed(at: Fx.t(Fx.now), reason: "x"))
        node.record(.rebuildFailed(at: Fx.t(Fx.now + 10), reason: "y"))
        #expect(node.decide(Fx.follower(now: Fx.now + 5_009, local: Fx.stoppedFormerPrimary())).withoutCampaign
                == [.wait(reason: "the base backup failed; retrying soon")])
        #expect(node.decide(Fx.follower(now: Fx.now + 5_010, local: Fx.stoppedFormerPrimary())) == [.rebuild(from: "a")])
    }

    @Test func failedRewindWithRebuildOnRewindFailureOffWaits() {
        var node = HANode()
        let cluster = Fx.cluster(config: Fx.config { $0.rebuildOnRewindFailure = false })
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedFormerPrimary())).withoutCampaign == [.rewind(from: "a")])
        node.record(.rewindFailed(at: Fx.t(Fx.now), reason: "x"))
        let wait = [HAAction.wait(reason: "pg_rewind failed and rebuild_on_rewind_failure is off; reinitialize this member")]
        #expect(node.decide(Fx.follower(now: Fx.now + 1, cluster: cluster, local: Fx.stoppedFormerPrimary())) == wait)
        // sticky: no retry after the backoff either
        #expect(node.decide(Fx.follower(now: Fx.now + 60_000, cluster: cluster, local: Fx.stoppedFormerPrimary())) == wait)
    }

    @Test func repairedAllowsRewindingAgain() {
        var node = HANode()
        node.record(.rewindFailed(at: Fx.t(Fx.now), reason: "x"))
        node.record(.repaired)
        #expect(node.decide(Fx.follower(local: Fx.stoppedFormerPrimary())).withoutCampaign == [.rewind(from: "a")])
    }

    @Test(arguments: [true, false])
    func usePgRewindOffRebuilds(rebuildOnRewindFailure: Bool) {
        var node = HANode()
        let cluster = Fx.cluster(config: Fx.config { $0.usePgRewind = false; $0.rebuildOnRewindFailure = rebuildOnRewindFailure })
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedFormerPrimary()))
                == [Campaign.notStandby, .rebuild(from: "a")])
    }

    @Test func usePgRewindOffRebuildBacksOff() {
        var node = HANode()
        let cluster = Fx.cluster(config: Fx.config { $0.usePgRewind = false })
        node.record(.rebuildFailed(at: Fx.t(Fx.now), reason: "x"))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedFormerPrimary())).withoutCampaign
                == [.wait(reason: "the base backup failed; retrying soon")])
    }

    // MARK: Standby

    @Test func stoppedStandbyStartsFollowingTheLeader() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.stoppedStandby())) == [Campaign.notStandby, .startReplica(following: "a")])
    }

    @Test func crashedStandbyStartsFollowingTheLeader() {
        var node = HANode()
        let local = Fx.down(.inArchiveRecovery, process: .crashed(at: Fx.t(Fx.now - 5)))
        #expect(node.decide(Fx.follower(local: local)) == [Campaign.notStandby, .startReplica(following: "a")])
    }

    @Test func stoppedStandbyMayFollowALeaderThatIsStillAStandby() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a")))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedStandby())).withoutCampaign == [.startReplica(following: "a")])
    }

    @Test func stoppedStandbyBacksOffAfterAFailedStart() {
        var node = HANode()
        node.record(.startFailed(at: Fx.t(Fx.now), reason: "x"))
        #expect(node.decide(Fx.follower(now: Fx.now + 4_999, local: Fx.stoppedStandby()))
                == [Campaign.notStandby, .wait(reason: "Postgres failed to start; retrying soon")])
        #expect(node.decide(Fx.follower(now: Fx.now + 5_000, local: Fx.stoppedStandby())) == [.startReplica(following: "a")])
    }

    @Test func aRewindFailureDoesNotAffectAStandby() {
        var node = HANode()
        node.record(.rewindFailed(at: Fx.t(Fx.now), reason: "x"))
        #expect(node.decide(Fx.follower(local: Fx.stoppedStandby())).withoutCampaign == [.startReplica(following: "a")])
    }

    @Test(arguments: [Optional("c"), nil])
    func runningStandbyFollowingAnotherMemberIsRepointed(following: String?) {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.runningReplica(following: following))) == [Campaign.runningStandby, .follow("a")])
    }

    @Test func runningStandbyFollowingTheLeaderNeedsNothing() {
        var node = HANode()
        let input = Fx.follower(local: Fx.runningReplica(following: "a"))
        #expect(node.decide(input) == [Campaign.runningStandby])
        #expect(node.decide(input) == [])
    }

    @Test func newLeaderRepointsAStandby() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a", following: "c"), Fx.primary("c")))
        #expect(node.decide(Fx.follower(leader: "c", cluster: cluster, local: Fx.runningReplica(following: "a")))
                == [Campaign.runningStandby, .follow("c")])
    }

    @Test func stoppedStandbyOnTheNewestTimelineStartsFollowingTheLeader() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3))
        #expect(node.decide(Fx.follower(cluster: cluster, local: Fx.stoppedStandby(timeline: 3)))
                == [Campaign.notStandby, .startReplica(following: "a")])
    }
}

/// A standby of an older timeline than the history's newest may hold WAL past the point where
/// the next timeline forked (it was a primary's standby that missed the promotion, or a former
/// primary started in recovery): it cannot follow the newer timeline until it is rewound.
@Suite struct HANodeOlderTimelineStandbyTests {
    static let diverging = "this standby diverged from the primary's timeline; waiting for the new primary"
    /// "c" was primary on timeline 3 from 0/64 until "b" was promoted to timeline 4 at 0/5DC
    /// (1_500); "b" now runs the primary.
    static let cluster = Fx.cluster(
        members: Fx.members(Fx.primary("b", lsn: 3_000, timeline: 4), Fx.member("c", timeline: 3, lsn: 2_000)),
        history: [HistoryRow(timeline: 3, lsn: LSN(100), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "c"),
                  HistoryRow(timeline: 4, lsn: LSN(1_500), atUnixMs: 0, reason: "failover", oldPrimary: "c", newPrimary: "b")])

    /// A running standby of "c" on `timeline` that is not streaming.
    static func standby(timeline: UInt32 = 3, received: UInt64?, replayed: UInt64?, streaming: Bool = false,
                        following: String? = "b") -> LocalPostgres {
        var local = Fx.runningReplica(following: following, timeline: timeline)
        local.running?.receivedLSN = received.map { LSN($0) }
        local.running?.replayedLSN = replayed.map { LSN($0) }
        local.running?.streaming = streaming
        return local
    }

    static func input(_ local: LocalPostgres, now: UInt64 = Fx.now, cluster: ClusterView = Self.cluster) -> HAInput {
        Fx.follower("c", leader: "b", now: now, cluster: cluster, local: local)
    }

    /// A node that has seen this standby not streaming for `HANode.divergenceGraceMs` by `Fx.now`.
    static func primed(cluster: ClusterView = Self.cluster) -> HANode {
        var node = HANode()
        _ = node.decide(input(standby(received: nil, replayed: nil), now: Fx.now - HANode.divergenceGraceMs, cluster: cluster))
        return node
    }

    @Test func aStandbyThatLooksDivergedIsNotRepairedWithinTheGrace() {
        // Repointed after a switchover, its WAL receiver restarting: its checkpoint's timeline
        // lags behind the one it already follows, so it looks diverged for a moment.
        var node = HANode()
        let local = Self.standby(received: 2_000, replayed: 2_000)
        #expect(!node.decide(Self.input(local)).contains { if case .rewind = $0 { return true }; return false })
        #expect(!node.decide(Self.input(local, now: Fx.now + HANode.divergenceGraceMs - 1)).contains {
            if case .rewind = $0 { return true }; return false })
        #expect(node.decide(Self.input(local, now: Fx.now + HANode.divergenceGraceMs)).withoutCampaign == [.rewind(from: "b")])
        // Streaming again resets the grace.
        _ = node.decide(Self.input(Self.standby(received: 2_000, replayed: 2_000, streaming: true), now: Fx.now + 10_000))
        #expect(node.decide(Self.input(local, now: Fx.now + 10_001)).withoutCampaign == [])
    }

    // MARK: Stopped

    @Test(arguments: [Fx.stoppedStandby(timeline: 3), Fx.down(.inArchiveRecovery, timeline: 3, process: .crashed(at: Fx.t(1))),
                      Fx.stoppedStandby(timeline: 1)])
    func stoppedStandbyBehindTheNewestTimelineIsRewound(local: LocalPostgres) {
        var node = HANode()
        #expect(node.decide(Self.input(local)) == [Campaign.notStandby, .rewind(from: "b")])
    }

    /// It starts in recovery (it cannot write, and its position may be one the `sync` claim's
    /// read quorum needs: `HANodeFixedBugTests`); it is rewound once a primary runs.
    @Test func stoppedStandbyBehindTheNewestTimelineStartsInRecoveryWhileTheLeaderIsAStandby() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.members["b"] = Fx.member("b", timeline: 4)
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 3), cluster: cluster)).withoutCampaign
                == [.startReplica(following: nil)])
    }

    @Test func stoppedStandbyBehindTheNewestTimelineIsRebuiltAfterAFailedRewind() {
        var node = HANode()
        node.record(.rewindFailed(at: Fx.t(Fx.now - 1), reason: "x"))
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 3))).withoutCampaign == [.rebuild(from: "b")])
    }

    @Test func stoppedStandbyBehindTheNewestTimelineIsRebuiltWithoutPgRewind() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.config.usePgRewind = false
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 3), cluster: cluster)).withoutCampaign == [.rebuild(from: "b")])
    }

    @Test func stoppedStandbyOnTheNewestTimelineIsNotRewound() {
        var node = HANode()
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 4))).withoutCampaign == [.startReplica(following: "b")])
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 5))) == [.startReplica(following: "b")])
    }

    // MARK: Running, not streaming

    @Test func runningStandbyPastTheForkPointIsRewound() {
        var node = Self.primed()
        #expect(node.decide(Self.input(Self.standby(received: 2_000, replayed: 1_400))).withoutCampaign == [.rewind(from: "b")])
    }

    @Test(arguments: [(UInt64?.none, UInt64?.some(1_501)), (1_000, 1_501), (1_501, nil), (1_501, 0)])
    func eitherReceivedOrReplayedPastTheForkPointCounts(received: UInt64?, replayed: UInt64?) {
        var node = Self.primed()
        #expect(node.decide(Self.input(Self.standby(received: received, replayed: replayed))).withoutCampaign == [.rewind(from: "b")])
    }

    /// The non-diverged case: its WAL ends at or before the fork point, so it can follow the
    /// new timeline as it is (repointed if it follows someone else).
    @Test(arguments: [(UInt64?.some(1_000), UInt64?.some(900)), (1_500, 1_500), (nil, nil), (1_500, nil)])
    func runningStandbyAtOrBelowTheForkPointIsNotRewound(received: UInt64?, replayed: UInt64?) {
        var node = Self.primed()
        #expect(node.decide(Self.input(Self.standby(received: received, replayed: replayed))).withoutCampaign == [])
        var other = HANode()
        #expect(other.decide(Self.input(Self.standby(received: received, replayed: replayed, following: "c"))).withoutCampaign
                == [.follow("b")])
    }

    @Test func theForkPointIsTheNextTimelinesNotTheNewest() {
        // timeline 2 forked into 3 at 0/5DC (1_500), and 3 into 4 at 0/9C4 (2_500)
        let cluster = Fx.cluster(
            members: Fx.members(Fx.primary("b", lsn: 3_000, timeline: 4)),
            history: [HistoryRow(timeline: 2, lsn: LSN(500), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "a"),
                      HistoryRow(timeline: 3, lsn: LSN(1_500), atUnixMs: 0, reason: "failover", oldPrimary: "a", newPrimary: "c"),
                      HistoryRow(timeline: 4, lsn: LSN(2_500), atUnixMs: 0, reason: "failover", oldPrimary: "c", newPrimary: "b")])
        var past = Self.primed(cluster: cluster)
        #expect(past.decide(Self.input(Self.standby(timeline: 2, received: 2_000, replayed: 2_000), cluster: cluster)).withoutCampaign
                == [.rewind(from: "b")])
        var before = HANode()
        #expect(before.decide(Self.input(Self.standby(timeline: 2, received: 1_000, replayed: 1_000), cluster: cluster)).withoutCampaign
                == [])
        // on timeline 3, 2_000 is before 4's fork point
        var newer = HANode()
        #expect(newer.decide(Self.input(Self.standby(timeline: 3, received: 2_000, replayed: 2_000), cluster: cluster)).withoutCampaign
                == [])
    }

    /// Found by the HA simulator: with unique timeline numbers a promotion can fork from an
    /// older timeline than the previous row's. "c" is a standby on timeline 2 ("a"'s short-lived
    /// promotion from 1 at 0/1F4, 500) with WAL to 0/258 (600), below where timeline 3 forked
    /// from 1 (0/3E8, 1_000): by LSN it looks compatible, but timeline 2 is not an ancestor of
    /// the primary's timeline 4, and Postgres refuses to follow.
    @Test func aStandbyOnATimelineOffThePrimarysPathDiverged() {
        let rows = [HistoryRow(timeline: 2, lsn: LSN(500), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "a", parent: 1),
                    HistoryRow(timeline: 3, lsn: LSN(1_000), atUnixMs: 0, reason: "failover", oldPrimary: "a", newPrimary: "b", parent: 1),
                    HistoryRow(timeline: 4, lsn: LSN(2_500), atUnixMs: 0, reason: "failover", oldPrimary: "b", newPrimary: "b", parent: 3)]
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("b", lsn: 3_000, timeline: 4)), history: rows)
        var off = Self.primed(cluster: cluster)
        #expect(off.decide(Self.input(Self.standby(timeline: 2, received: 600, replayed: 600), cluster: cluster)).withoutCampaign
                == [.rewind(from: "b")])
        // On the path: timeline 3 up to 4's fork point follows as it is; past it, it diverged.
        var onPath = Self.primed(cluster: cluster)
        #expect(onPath.decide(Self.input(Self.standby(timeline: 3, received: 2_000, replayed: 2_000), cluster: cluster)).withoutCampaign == [])
        var past = Self.primed(cluster: cluster)
        #expect(past.decide(Self.input(Self.standby(timeline: 3, received: 2_600, replayed: 2_600), cluster: cluster)).withoutCampaign
                == [.rewind(from: "b")])
        // Timeline 1 is an ancestor (the parent of 3): only WAL past 3's fork point diverged.
        var root = Self.primed(cluster: cluster)
        #expect(root.decide(Self.input(Self.standby(timeline: 1, received: 900, replayed: 900), cluster: cluster)).withoutCampaign == [])
    }

    @Test func streamingStandbyIsNotRewound() {
        var node = HANode()
        #expect(node.decide(Self.input(Self.standby(received: 2_000, replayed: 2_000, streaming: true))) == [Campaign.runningStandby])
    }

    @Test func runningStandbyOnTheNewestTimelineIsNotRewound() {
        var node = HANode()
        #expect(node.decide(Self.input(Self.standby(timeline: 4, received: 2_000, replayed: 2_000))) == [Campaign.runningStandby])
    }

    @Test func divergedStandbyWaitsWhileTheLeaderIsNotARunningPrimary() {
        var cluster = Self.cluster
        cluster.members["b"] = Fx.member("b", timeline: 4)
        var node = Self.primed(cluster: cluster)
        #expect(node.decide(Self.input(Self.standby(received: 2_000, replayed: 2_000), cluster: cluster)).withoutCampaign
                == [.wait(reason: Self.diverging)])
        cluster.members["b"] = Fx.member("b", role: .primary, state: .stopped, timeline: 4)
        #expect(node.decide(Self.input(Self.standby(received: 2_000, replayed: 2_000), cluster: cluster))
                == [.wait(reason: "no leader with a running Postgres is known")])
    }

    @Test func divergedStandbyIsRebuiltWithoutPgRewind() {
        var node = Self.primed()
        var cluster = Self.cluster
        cluster.config.usePgRewind = false
        #expect(node.decide(Self.input(Self.standby(received: 2_000, replayed: 2_000), cluster: cluster)).withoutCampaign
                == [.rebuild(from: "b")])
        cluster.config.rebuildOnRewindFailure = false
        #expect(node.decide(Self.input(Self.standby(received: 2_000, replayed: 2_000), cluster: cluster)).withoutCampaign
                == [.rebuild(from: "b")], "with use_pg_rewind off, a rebuild is the only repair")
    }

    @Test func divergedStandbyIsRebuiltAfterAFailedRewind() {
        var node = Self.primed()
        let local = Self.standby(received: 2_000, replayed: 2_000)
        #expect(node.decide(Self.input(local)).withoutCampaign == [.rewind(from: "b")])
        node.record(.rewindFailed(at: Fx.t(Fx.now), reason: "could not find common ancestor"))
        #expect(node.decide(Self.input(local, now: Fx.now + 1)) == [.rebuild(from: "b")])
        node.record(.repaired)
        #expect(node.decide(Self.input(local, now: Fx.now + 60_001)) == [.rewind(from: "b")])
    }

    @Test func aRewindThatCouldNotRunIsRetriedNotReplacedByARebuild() {
        var node = Self.primed()
        let local = Self.standby(received: 2_000, replayed: 2_000)
        #expect(node.decide(Self.input(local)).withoutCampaign == [.rewind(from: "b")])
        node.record(.rewindDeferred(at: Fx.t(Fx.now), reason: "the source did not answer"))
        #expect(node.decide(Self.input(local, now: Fx.now + 1)) == [.wait(reason: "pg_rewind could not run; retrying soon")])
        #expect(node.decide(Self.input(local, now: Fx.now + HANode.retryAfterMs)) == [.rewind(from: "b")])
    }

    @Test func withoutHistoryNothingIsDiverged() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.history = []
        #expect(node.decide(Self.input(Self.standby(received: 9_000, replayed: 9_000), cluster: cluster)) == [Campaign.runningStandby])
    }
}
