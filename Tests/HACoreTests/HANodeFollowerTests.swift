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
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 3)))
                == [Campaign.notStandby, .startReplica(following: nil)])
    }

    @Test func withoutALeaderOrHistoryAFormerPrimaryStartsInRecovery() {
        var node = HANode()
        #expect(node.decide(Fx.follower(leader: nil, local: Fx.crashedPrimary(timeline: 1)))
                == [Campaign.notStandby, .startReplica(following: nil)])
    }

    @Test func withoutALeaderAFormerPrimaryBehindTheNewestTimelineStaysDown() {
        var node = HANode()
        let cluster = Fx.cluster(history: Fx.history(2, 3))
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.stoppedFormerPrimary(timeline: 2)))
                == [Campaign.notStandby, Self.noUpstream])
        #expect(node.decide(Fx.follower(leader: nil, cluster: cluster, local: Fx.crashedPrimary(timeline: 2))) == [Self.noUpstream])
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

    @Test(arguments: [Fx.stoppedFormerPrimary(), Fx.crashedPrimary(), Fx.down(.shuttingDown), Fx.down(.inProduction)])
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
}
