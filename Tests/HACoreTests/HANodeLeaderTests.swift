import Testing
@testable import HACore

@Suite struct HANodeLeaderLeaseTests {
    @Test func leaderWithoutLeaseFencesItsRunningPrimary() {
        var node = HANode()
        #expect(node.decide(Fx.leader(lease: false, local: Fx.runningPrimary()))
                == [Campaign.runsPrimary, .fence(reason: "leader without a valid lease")])
    }

    @Test func leaseEndingExactlyNowIsNotHeld() {
        var node = HANode()
        var input = Fx.leader(local: Fx.runningPrimary())
        input.raft.leaseDeadline = input.now
        #expect(!input.holdsLease)
        #expect(node.decide(input) == [Campaign.runsPrimary, .fence(reason: "leader without a valid lease")])
        input.raft.leaseDeadline = input.now.adding(milliseconds: 1)
        #expect(input.holdsLease)
    }

    @Test func followerNeverHoldsALeaseEvenWithADeadline() {
        var input = Fx.follower(local: Fx.runningReplica())
        input.raft.leaseDeadline = input.now.adding(milliseconds: 500)
        #expect(!input.holdsLease)
    }

    /// The lease lapses while the leader's own primary is still starting (its `startPrimary`
    /// was issued under the lease): it is fenced before it can accept writes without a lease.
    @Test func leaderWithoutLeaseFencesAPrimaryBeingStarted() {
        var node = HANode()
        #expect(node.decide(Fx.leader(now: Fx.now - 300, local: Fx.crashedPrimary())).withoutCampaign == [.startPrimary])
        #expect(node.decide(Fx.leader(lease: false, local: Fx.starting(asPrimary: true)))
                == [.fence(reason: "leader without a valid lease")])
    }

    @Test func leaderWithoutLeaseFencesAPrimaryBeingStartedWhateverItsControlData() {
        // The executor knows what it started; pg_control may still say the standby it was.
        var node = HANode()
        #expect(node.decide(Fx.leader(lease: false, local: Fx.starting(asPrimary: true, .shutDownInRecovery))).withoutCampaign
                == [.fence(reason: "leader without a valid lease")])
    }

    @Test(arguments: [Fx.runningReplica(following: nil), Fx.stoppedStandby(), Fx.crashedPrimary(), Fx.emptyDir,
                      Fx.starting(asPrimary: false), Fx.starting(asPrimary: false, .inProduction),
                      Fx.unanswering(), Fx.down(.inProduction, process: .stopped).withStartedAsPrimary(true)])
    func leaderWithoutLeaseWaitsOtherwise(local: LocalPostgres) {
        var node = HANode()
        let actions = node.decide(Fx.leader(lease: false, local: local))
        #expect(actions.withoutCampaign == [.wait(reason: "leader, waiting for a quorum-renewed lease")])
    }

    @Test func leaderWithoutLeaseDoesNotBootstrap() {
        var node = HANode()
        #expect(node.decide(Fx.leader(lease: false, cluster: Fx.cluster(sysid: nil), local: Fx.emptyDir))
                == [Campaign.unbootstrapped, .wait(reason: "leader, waiting for a quorum-renewed lease")])
    }
}

@Suite struct HANodeBootstrapTests {
    static let fresh = Fx.cluster(sysid: nil, members: [:])

    @Test func leaderWithLeaseAndEmptyDirectoryBootstraps() {
        var node = HANode()
        #expect(node.decide(Fx.leader(cluster: Self.fresh, local: Fx.emptyDir)) == [Campaign.unbootstrapped, .bootstrap])
    }

    @Test func bootstrapInProgressWaits() {
        var node = HANode()
        let local = LocalPostgres(dataDirectory: .empty, process: .starting(since: Fx.t(Fx.now - 10)))
        #expect(node.decide(Fx.leader(cluster: Self.fresh, local: local))
                == [Campaign.unbootstrapped, .wait(reason: "bootstrapping")])
    }

    @Test func failedBootstrapIsRetriedAfterBackoff() {
        var node = HANode()
        #expect(node.decide(Fx.leader(cluster: Self.fresh, local: Fx.emptyDir)) == [Campaign.unbootstrapped, .bootstrap])
        node.record(.bootstrapFailed(at: Fx.t(Fx.now), reason: "initdb failed"))
        let backoff = [HAAction.wait(reason: "bootstrap failed; retrying soon")]
        #expect(node.decide(Fx.leader(now: Fx.now, cluster: Self.fresh, local: Fx.emptyDir)) == backoff)
        #expect(node.decide(Fx.leader(now: Fx.now + 4_999, cluster: Self.fresh, local: Fx.emptyDir)) == backoff)
        #expect(node.decide(Fx.leader(now: Fx.now + 5_000, cluster: Self.fresh, local: Fx.emptyDir)) == [.bootstrap])
    }

    @Test func otherFailuresDoNotDelayBootstrap() {
        var node = HANode()
        node.record(.startFailed(at: Fx.t(Fx.now), reason: "x"))
        node.record(.promoteFailed(at: Fx.t(Fx.now), reason: "x"))
        node.record(.rebuildFailed(at: Fx.t(Fx.now), reason: "x"))
        #expect(node.decide(Fx.leader(cluster: Self.fresh, local: Fx.emptyDir)) == [Campaign.unbootstrapped, .bootstrap])
    }

    @Test(arguments: [Fx.stoppedFormerPrimary(), Fx.runningPrimary(), Fx.stoppedStandby(),
                      Fx.down(sysid: 42)])
    func leaderWithExistingDirectoryAdoptsIt(local: LocalPostgres) {
        var node = HANode()
        let actions = node.decide(Fx.leader(cluster: Self.fresh, local: local))
        #expect(actions == [Campaign.unbootstrapped, .adoptExistingCluster(systemIdentifier: local.dataDirectory.systemIdentifier!)])
    }

    @Test func followerWaitsForTheLeaderToBootstrap() {
        var node = HANode()
        #expect(node.decide(Fx.follower(cluster: Self.fresh, local: Fx.emptyDir))
                == [Campaign.unbootstrapped, .wait(reason: "the cluster is not bootstrapped yet; waiting for the leader")])
    }

    @Test func bootstrappedLeaderWithEmptyDirectoryHandsOverInsteadOfBootstrapping() {
        var node = HANode()
        #expect(node.decide(Fx.leader(local: Fx.emptyDir))
                == [Campaign.notStandby, .transferLeadership(to: "b", raftID: 2, reason: "the leader has no data directory")])
    }

    @Test func bootstrappedLeaderWithEmptyDirectoryAndNoCandidateWaits() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b", state: .stopped), Fx.member("c", tags: Tags(noFailover: true))))
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.emptyDir))
                == [Campaign.notStandby, .wait(reason: "leader without data, and no member to hand leadership to")])
    }
}

@Suite struct HANodePrimaryLeaderTests {
    @Test func syncsSlotsForTheOtherMembersOnce() {
        var node = HANode()
        let input = Fx.leader(local: Fx.runningPrimary())
        #expect(node.decide(input) == [Campaign.runsPrimary, .syncSlots(["b", "c"])])
        #expect(node.decide(input) == [])
        #expect(node.decide(input) == [])
    }

    @Test func syncsSlotsAgainWhenMembershipChanges() {
        var node = HANode()
        let input = Fx.leader(local: Fx.runningPrimary())
        _ = node.decide(input)
        var grown = input
        grown.cluster.members["d"] = Fx.member("d")
        #expect(node.decide(grown) == [.syncSlots(["b", "c", "d"])])
        #expect(node.decide(grown) == [])
        var voterGone = input
        voterGone.raft.voters = [1: "a", 2: "b"]
        voterGone.cluster.members["c"] = nil
        #expect(node.decide(voterGone) == [.syncSlots(["b"])])
    }

    @Test func slotNamesComeFromVotersAndReports() {
        var node = HANode()
        var input = Fx.leader(cluster: Fx.cluster(members: [:]), local: Fx.runningPrimary())
        #expect(node.decide(input) == [Campaign.runsPrimary, .syncSlots(["b", "c"])])
        input.raft.voters = [1: "a"]
        input.cluster.members = Fx.members(Fx.member("x"))
        #expect(node.decide(input) == [.syncSlots(["x"])])
    }

    @Test func singleMemberSyncsAnEmptySlotSetOnce() {
        var node = HANode()
        var input = Fx.leader(cluster: Fx.cluster(members: Fx.members(Fx.primary("a"))), local: Fx.runningPrimary())
        input.raft.voters = [1: "a"]
        #expect(node.decide(input) == [Campaign.runsPrimary, .syncSlots([])])
        #expect(node.decide(input) == [])
    }

    @Test func syncsSlotsAgainAfterThePrimaryWasDown() {
        var node = HANode()
        let running = Fx.leader(local: Fx.runningPrimary())
        _ = node.decide(running)
        #expect(node.decide(Fx.leader(local: Fx.crashedPrimary())) == [Campaign.notStandby, .startPrimary])
        #expect(node.decide(running) == [Campaign.runsPrimary, .syncSlots(["b", "c"])])
    }

    @Test func syncsSlotsAgainAfterAFence() {
        var node = HANode()
        let running = Fx.leader(local: Fx.runningPrimary())
        _ = node.decide(running)
        // Still running when the lease lapsed: fenced, but the primary was up, so memory stays.
        #expect(node.decide(Fx.leader(lease: false, local: Fx.runningPrimary())) == [.fence(reason: "leader without a valid lease")])
        _ = node.decide(Fx.leader(lease: false, local: Fx.stoppedFormerPrimary()))
        #expect(node.decide(running).withoutCampaign == [.syncSlots(["b", "c"])])
    }
}

@Suite struct HANodeFailoverTests {
    static let promoteA = HAAction.promote(reason: "failover", oldPrimary: "c")
    /// The last promotion made "c" primary (so a failover names it as the old primary).
    static let cluster = Fx.cluster(members: Fx.members(Fx.member("a"), Fx.member("b"), Fx.member("c", role: .primary, state: .crashed)),
                                    lastPrimaryLSN: 1_000, history: Fx.history(2, newPrimary: "c"))

    static func input(now: UInt64 = Fx.now, term: UInt64 = Fx.term, me: String = "a", cluster: ClusterView = Self.cluster,
                      round: StatusRound?) -> HAInput {
        Fx.leader(me, now: now, term: term, cluster: cluster, local: Fx.runningReplica(following: "c", timeline: 2), round: round)
    }

    @Test func withoutARoundGathersStatus() {
        var node = HANode()
        #expect(node.decide(Self.input(round: nil)) == [Campaign.runningStandby, .gatherStatus(term: Fx.term)])
        #expect(node.decide(Self.input(round: nil)) == [.gatherStatus(term: Fx.term)])
    }

    @Test func roundOfAnEarlierTermIsGatheredAgain() {
        var node = HANode()
        let round = Fx.round(Fx.member("a", timeline: 2), term: Fx.term - 1)
        #expect(node.decide(Self.input(round: round)) == [Campaign.runningStandby, .gatherStatus(term: Fx.term)])
    }

    @Test func roundOfALaterTermIsNotUsedEither() {
        var node = HANode()
        let round = Fx.round(Fx.member("a", timeline: 2), term: Fx.term + 1)
        #expect(node.decide(Self.input(round: round)).withoutCampaign == [.gatherStatus(term: Fx.term)])
    }

    @Test func roundOlderThanFiveSecondsIsGatheredAgain() {
        var node = HANode()
        let at = Fx.now - 5_001
        #expect(node.decide(Self.input(round: Fx.round(Fx.member("a", timeline: 2), at: at))).withoutCampaign
                == [.gatherStatus(term: Fx.term)])
        // exactly five seconds old is still fresh
        #expect(node.decide(Self.input(round: Fx.round(Fx.member("a", timeline: 2), at: Fx.now - 5_000))) == [Self.promoteA])
    }

    @Test func promotesItselfWhenBest() {
        var node = HANode()
        let round = Fx.round(Fx.member("a", lsn: 1_000), Fx.member("b", lsn: 900), Fx.member("c", state: .stopped))
        #expect(node.decide(Self.input(round: round)) == [Campaign.runningStandby, Self.promoteA])
    }

    @Test func promotionWithoutHistoryNamesNoOldPrimary() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.history = []
        let round = Fx.round(Fx.member("a"))
        #expect(node.decide(Self.input(cluster: cluster, round: round)).withoutCampaign
                == [.promote(reason: "failover", oldPrimary: nil)])
    }

    @Test func transfersToAMemberWithHigherLSN() {
        var node = HANode()
        let round = Fx.round(Fx.member("a", lsn: 1_000), Fx.member("b", lsn: 2_000), Fx.member("c", lsn: 1_500))
        #expect(node.decide(Self.input(round: round))
                == [Campaign.runningStandby,
                    .transferLeadership(to: "b", raftID: 2, reason: "b is the better primary (timeline 1, WAL 0/7D0, priority 1)")])
    }

    @Test func transfersToAMemberWithSameLSNAndHigherPriority() {
        var node = HANode()
        let round = Fx.round(Fx.member("a"), Fx.member("b"), Fx.member("c", tags: Tags(failoverPriority: 3)))
        #expect(node.decide(Self.input(round: round)).withoutCampaign
                == [.transferLeadership(to: "c", raftID: 3, reason: "c is the better primary (timeline 1, WAL 0/3E8, priority 3)")])
    }

    /// Level with the best on timeline, WAL and priority (only the name ranks it lower): it
    /// promotes itself rather than pay a transfer and a second lease wait (found by the
    /// failover benchmark: 5–7 s isolations were such a hand-over).
    @Test func aLeaderLevelWithTheBestButForTheNamePromotesItself() {
        var node = HANode()
        let round = Fx.round(Fx.member("a"), Fx.member("b"), Fx.member("c"))
        #expect(node.decide(Self.input(me: "b", round: round)).withoutCampaign == [.promote(reason: "failover", oldPrimary: "c")])
        var other = HANode()
        #expect(other.decide(Self.input(me: "a", round: round)).withoutCampaign == [Self.promoteA])
    }

    @Test func aNewerTimelineBeatsAHigherLSN() {
        var node = HANode()
        let round = Fx.round(Fx.member("a", timeline: 1, lsn: 9_000), Fx.member("b", timeline: 2, lsn: 1_000))
        #expect(node.decide(Self.input(round: round)).withoutCampaign
                == [.transferLeadership(to: "b", raftID: 2, reason: "b is the better primary (timeline 2, WAL 0/3E8, priority 1)")])
    }

    @Test func waitsForThePendingTransferThenPromotesItselfAfterTransferTimeout() {
        var node = HANode()
        func round(_ at: UInt64) -> StatusRound { Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000), at: at) }
        let t0 = Fx.now
        #expect(node.decide(Self.input(now: t0, round: round(t0))).withoutCampaign.first?.isTransfer == true)
        #expect(node.decide(Self.input(now: t0 + 1, round: round(t0))) == [.wait(reason: "handing leadership to b")])
        #expect(node.decide(Self.input(now: t0 + 2_999, round: round(t0))) == [.wait(reason: "handing leadership to b")])
        #expect(node.decide(Self.input(now: t0 + 3_000, round: round(t0 + 2_900)))
                == [.promote(reason: "failover (transfer to b did not complete)", oldPrimary: "c")])
    }

    @Test func transferTimeoutIsConfigurable() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.config.transferTimeoutMs = 500
        let round = Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000))
        _ = node.decide(Self.input(cluster: cluster, round: round))
        #expect(node.decide(Self.input(now: Fx.now + 499, cluster: cluster, round: round)) == [.wait(reason: "handing leadership to b")])
        #expect(node.decide(Self.input(now: Fx.now + 500, cluster: cluster, round: round))
                == [.promote(reason: "failover (transfer to b did not complete)", oldPrimary: "c")])
    }

    @Test func transferTimedOutAndNotQualifiedTransfersAgain() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.lastPrimaryLSN = LSN(3_000_000)
        // "a" lags 2_999_000 bytes (over the 1 MiB limit); "b" is close.
        let round = Fx.round(Fx.member("a", lsn: 1_000), Fx.member("b", lsn: 2_999_000))
        let transfer = HAAction.transferLeadership(to: "b", raftID: 2, reason: "b is the better primary (timeline 1, WAL 0/2DC2D8, priority 1)")
        #expect(node.decide(Self.input(cluster: cluster, round: round)).withoutCampaign == [transfer])
        #expect(node.decide(Self.input(now: Fx.now + 3_000, cluster: cluster, round: round)) == [transfer])
        // and that restarted the transfer clock
        #expect(node.decide(Self.input(now: Fx.now + 3_001, cluster: cluster, round: round)) == [.wait(reason: "handing leadership to b")])
    }

    @Test func transferTimedOutButPromotionRecentlyFailedTransfersAgain() {
        var node = HANode()
        let round = Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000))
        _ = node.decide(Self.input(round: round))
        node.record(.promoteFailed(at: Fx.t(Fx.now + 1), reason: "pg_promote timed out"))
        #expect(node.decide(Self.input(now: Fx.now + 3_000, round: round))
                == [.transferLeadership(to: "b", raftID: 2, reason: "b is the better primary (timeline 1, WAL 0/7D0, priority 1)")])
    }

    @Test func failedPromotionIsRetriedAfterBackoff() {
        var node = HANode()
        let round = Fx.round(Fx.member("a"))
        #expect(node.decide(Self.input(round: round)).withoutCampaign == [Self.promoteA])
        node.record(.promoteFailed(at: Fx.t(Fx.now), reason: "x"))
        let later = Fx.round(Fx.member("a"), at: Fx.now + 4_000)
        #expect(node.decide(Self.input(now: Fx.now + 4_999, round: later)) == [.wait(reason: "promotion failed; retrying soon")])
        #expect(node.decide(Self.input(now: Fx.now + 5_000, round: later)) == [Self.promoteA])
    }

    @Test func termChangeResetsThePendingTransfer() {
        var node = HANode()
        let transfer = HAAction.transferLeadership(to: "b", raftID: 2, reason: "b is the better primary (timeline 1, WAL 0/7D0, priority 1)")
        let r7 = Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000), term: 7)
        #expect(node.decide(Self.input(term: 7, round: r7)).withoutCampaign == [transfer])
        #expect(node.decide(Self.input(now: Fx.now + 100, term: 7, round: r7)) == [.wait(reason: "handing leadership to b")])
        // Same leader, new term (it was re-elected): the old transfer is forgotten.
        let r8 = Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000), term: 8, at: Fx.now + 150)
        #expect(node.decide(Self.input(now: Fx.now + 200, term: 8, round: nil)) == [.gatherStatus(term: 8)])
        #expect(node.decide(Self.input(now: Fx.now + 200, term: 8, round: r8)) == [transfer])
    }

    @Test func termChangeAfterTransferDoesNotPromoteByTimeout() {
        var node = HANode()
        let r7 = Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000), term: 7)
        _ = node.decide(Self.input(term: 7, round: r7))
        // In term 8, 3 s later: without the reset this would be a timed-out transfer and a promotion.
        let r8 = Fx.round(Fx.member("a"), Fx.member("b", lsn: 2_000), term: 8, at: Fx.now + 3_000)
        #expect(node.decide(Self.input(now: Fx.now + 3_000, term: 8, round: r8)).first?.isTransfer == true)
    }

    @Test func waitsWithReasonsWhenNobodyQualifies() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.lastPrimaryLSN = LSN(1_000 + 1_048_577)
        let round = Fx.round(Fx.member("a", lsn: 1_000), Fx.member("b", tags: Tags(noFailover: true)),
                             Fx.member("c", state: .stopped), Fx.member("d", role: .primary))
        let reason = "no member qualifies for promotion: "
            + "a: 1048577 bytes behind the last primary position 0/1003E9 (maximum_lag_on_failover 1048576); "
            + "b: tags forbid promotion; c: Postgres is stopped; d: not a standby (primary)"
        #expect(node.decide(Self.input(cluster: cluster, round: round)) == [Campaign.runningStandby, .wait(reason: reason)])
    }

    @Test func waitsWhenNobodyAnswered() {
        var node = HANode()
        #expect(node.decide(Self.input(round: StatusRound(term: Fx.term, statuses: [:], at: Fx.t(Fx.now)))).withoutCampaign
                == [.wait(reason: "no member qualifies for promotion: no member answered")])
    }

    @Test func lagExactlyAtTheLimitQualifies() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.lastPrimaryLSN = LSN(1_000 + 1_048_576)
        #expect(node.decide(Self.input(cluster: cluster, round: Fx.round(Fx.member("a", lsn: 1_000)))).withoutCampaign == [Self.promoteA])
    }

    @Test func leaderWithNoFailoverTagHandsOverToAQualifiedMember() {
        var node = HANode()
        var input = Self.input(round: Fx.round(Fx.member("a", lsn: 5_000, tags: Tags(noFailover: true)), Fx.member("b")))
        input.tags = Tags(noFailover: true)
        #expect(node.decide(input)
                == [Campaign.tagsForbid,
                    .transferLeadership(to: "b", raftID: 2, reason: "b is the better primary (timeline 1, WAL 0/3E8, priority 1)")])
    }

    @Test func leaderMissingFromTheRoundNeverPromotesByTimeout() {
        var node = HANode()
        let round = Fx.round(Fx.member("b", lsn: 2_000))
        _ = node.decide(Self.input(round: round))
        #expect(node.decide(Self.input(now: Fx.now + 3_000, round: round)).first?.isTransfer == true)
    }

    @Test func ownLagIsJudgedByItsRoundAnswerNotLocalState() {
        // The round is what counts: "a" answered with a stale position; "b" is ahead.
        var node = HANode()
        let round = Fx.round(Fx.member("a", lsn: 10), Fx.member("b", lsn: 20))
        #expect(node.decide(Self.input(round: round)).withoutCampaign.first?.isTransfer == true)
    }
}

@Suite struct HANodeCrashedPrimaryTests {
    static let timeout = DynamicConfig().primaryStartTimeoutMs
    static let cluster = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", lsn: 900), Fx.member("c", lsn: 950)),
                                    history: Fx.history(2, newPrimary: "a"))

    static func input(_ local: LocalPostgres, now: UInt64 = Fx.now, cluster: ClusterView = Self.cluster) -> HAInput {
        Fx.leader(now: now, cluster: cluster, local: local)
    }

    /// "in crash recovery" is written only by a primary's crash recovery (a standby recovers
    /// "in archive recovery"): such data last ran as a primary too.
    @Test(arguments: [Fx.crashedPrimary(timeline: 2), Fx.stoppedFormerPrimary(timeline: 2),
                      Fx.down(.shuttingDown, timeline: 2), Fx.down(.inProduction, timeline: 3),
                      Fx.down(.inCrashRecovery, timeline: 2, process: .crashed(at: Fx.t(Fx.now - 10))),
                      Fx.down(.inCrashRecovery, timeline: 2)])
    func leaderRestartsItsPrimaryInPlace(local: LocalPostgres) {
        var node = HANode()
        #expect(node.decide(Self.input(local)) == [Campaign.notStandby, .startPrimary])
    }

    @Test func startingPrimaryWaits() {
        var node = HANode()
        #expect(node.decide(Self.input(Fx.starting(asPrimary: true, timeline: 2)))
                == [Campaign.notStandby, .wait(reason: "starting Postgres as primary")])
    }

    @Test func inCrashRecoveryDataWithoutHistoryIsRestartedInPlace() {
        var node = HANode()
        let local = Fx.down(.inCrashRecovery, process: .crashed(at: Fx.t(Fx.now - 10)))
        #expect(node.decide(Fx.leader(local: local)) == [Campaign.notStandby, .startPrimary])
    }

    @Test(arguments: [ControlData.ClusterState.inProduction, .inArchiveRecovery, .shutDownInRecovery])
    func runningButUnansweringPostgresWaits(state: ControlData.ClusterState) {
        // Neither a running primary nor a running standby: it is not started a second time.
        var node = HANode()
        #expect(node.decide(Self.input(Fx.unanswering(state, timeline: 2)))
                == [Campaign.notStandby, .wait(reason: "Postgres runs but does not answer queries yet")])
        var other = HANode()
        #expect(other.decide(Self.input(Fx.unanswering(state, timeline: 2, startedAsPrimary: true))).withoutCampaign
                == [.wait(reason: "Postgres runs but does not answer queries yet")])
    }

    @Test func failedStartIsRetriedAfterBackoff() {
        var node = HANode()
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2)))
        node.record(.startFailed(at: Fx.t(Fx.now), reason: "could not bind"))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + 4_999))
                == [.wait(reason: "Postgres failed to start; retrying soon")])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + 5_000)) == [.startPrimary])
    }

    @Test func notUpWithinPrimaryStartTimeoutHandsOverToTheBestReplica() {
        var node = HANode()
        let t0 = Fx.now
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0)).withoutCampaign == [.startPrimary])
        let starting = Fx.starting(asPrimary: true, timeline: 2, since: t0 + 10)
        #expect(node.decide(Self.input(starting, now: t0 + 1_000)) == [.wait(reason: "starting Postgres as primary")])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + Self.timeout - 1)) == [.startPrimary])
        let handOver = HAAction.transferLeadership(to: "c", raftID: 3,
                                                   reason: "Postgres did not come up as primary within primary_start_timeout")
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + Self.timeout)) == [handOver])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + Self.timeout + 2_999))
                == [.wait(reason: "handing leadership to c")])
        // still leader after transfer_timeout: transfer again
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + Self.timeout + 3_000)) == [handOver])
    }

    @Test func timeoutAppliesWhileStartingToo() {
        var node = HANode()
        let starting = Fx.starting(asPrimary: true, timeline: 2, since: Fx.now)
        _ = node.decide(Self.input(starting, now: Fx.now))
        #expect(node.decide(Self.input(starting, now: Fx.now + Self.timeout)).first?.isTransfer == true)
    }

    @Test func primaryStartTimeoutIsConfigurable() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.config.primaryStartTimeoutMs = 10_000
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2), cluster: cluster))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + 9_999, cluster: cluster)) == [.startPrimary])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + 10_000, cluster: cluster)).first?.isTransfer == true)
    }

    @Test func handOverUsesPeriodicReportsOfRunningStandbysOnly() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.config.primaryStartTimeoutMs = 0
        cluster.members = Fx.members(Fx.primary("a", lsn: 99_999), Fx.member("b", lsn: 10),
                                     Fx.member("c", state: .stopped, lsn: 5_000),
                                     Fx.member("x", lsn: 9_000, tags: Tags(noFailover: true)),
                                     Fx.member("y", sysid: Fx.otherSysid, lsn: 9_000))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), cluster: cluster)).withoutCampaign
                == [.transferLeadership(to: "b", raftID: 2, reason: "Postgres did not come up as primary within primary_start_timeout")])
    }

    /// With nobody to hand over to, the leader keeps restarting its primary in place: each
    /// primary_start_timeout starts a new period (no permanent wait).
    @Test func timeoutWithoutAReplicaRestartsInPlace() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.members = Fx.members(Fx.primary("a"), Fx.member("b", state: .crashed))
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2), cluster: cluster))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + Self.timeout, cluster: cluster))
                == [.startPrimary])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + Self.timeout + 3_600_000, cluster: cluster))
                == [.startPrimary])
    }

    @Test func timeoutWithoutAReplicaWhileStartingKeepsWaitingForTheStart() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.members = Fx.members(Fx.primary("a"))
        let starting = Fx.starting(asPrimary: true, timeline: 2, since: Fx.now)
        _ = node.decide(Self.input(starting, cluster: cluster))
        #expect(node.decide(Self.input(starting, now: Fx.now + Self.timeout, cluster: cluster))
                == [.wait(reason: "starting Postgres as primary")])
    }

    @Test func timeoutWithoutAReplicaStillBacksOffAfterAFailedStart() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.members = Fx.members(Fx.primary("a"))
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2), cluster: cluster))
        node.record(.startFailed(at: Fx.t(Fx.now + Self.timeout - 1), reason: "x"))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + Self.timeout, cluster: cluster))
                == [.wait(reason: "Postgres failed to start; retrying soon")])
    }

    @Test func afterARestartedPeriodAReplicaThatAppearedIsHandedOverAtItsEnd() {
        var node = HANode()
        var lonely = Self.cluster
        lonely.members = Fx.members(Fx.primary("a"))
        let t0 = Fx.now
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0, cluster: lonely))
        // first timeout: nobody to hand over to, a new period begins
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + Self.timeout, cluster: lonely)) == [.startPrimary])
        // "b" and "c" came back during the new period: it goes on restarting in place until it ends
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + 2 * Self.timeout - 1)) == [.startPrimary])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: t0 + 2 * Self.timeout))
                == [.transferLeadership(to: "c", raftID: 3, reason: "Postgres did not come up as primary within primary_start_timeout")])
    }

    @Test func termChangeRestartsThePrimaryStartClock() {
        var node = HANode()
        let t0 = Fx.now
        #expect(node.decide(Fx.leader(now: t0, term: 7, cluster: Self.cluster, local: Fx.crashedPrimary(timeline: 2))).withoutCampaign
                == [.startPrimary])
        // Re-elected in term 8 (no follower decision in between): the term-7 clock is forgotten.
        #expect(node.decide(Fx.leader(now: t0 + Self.timeout, term: 8, cluster: Self.cluster, local: Fx.crashedPrimary(timeline: 2)))
                == [.startPrimary])
        #expect(node.decide(Fx.leader(now: t0 + 2 * Self.timeout - 1, term: 8, cluster: Self.cluster,
                                      local: Fx.crashedPrimary(timeline: 2))) == [.startPrimary])
        #expect(node.decide(Fx.leader(now: t0 + 2 * Self.timeout, term: 8, cluster: Self.cluster,
                                      local: Fx.crashedPrimary(timeline: 2))).first?.isTransfer == true)
    }

    @Test func sameTermKeepsThePrimaryStartClock() {
        var node = HANode()
        _ = node.decide(Fx.leader(now: Fx.now, term: 7, cluster: Self.cluster, local: Fx.crashedPrimary(timeline: 2)))
        #expect(node.decide(Fx.leader(now: Fx.now + Self.timeout, term: 7, cluster: Self.cluster,
                                      local: Fx.crashedPrimary(timeline: 2))).first?.isTransfer == true)
    }

    @Test func theStartClockResetsWhenThePrimaryComesUp() {
        var node = HANode()
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now))
        _ = node.decide(Self.input(Fx.runningPrimary(timeline: 2), now: Fx.now + 1_000))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + Self.timeout + 5_000)) == [Campaign.notStandby, .startPrimary])
    }

    @Test func theStartClockResetsWhenItIsNoLongerLeader() {
        var node = HANode()
        _ = node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now))
        _ = node.decide(Fx.follower("a", leader: nil, now: Fx.now + 1_000, cluster: Self.cluster, local: Fx.crashedPrimary(timeline: 2)))
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + Self.timeout + 5_000)) == [.startPrimary])
    }

    @Test func divergedDataHandsOver() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.history = Fx.history(2, 3, newPrimary: "b")
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), cluster: cluster))
                == [Campaign.notStandby,
                    .transferLeadership(to: "c", raftID: 3, reason: "this node's data ends on timeline 2 but timeline 3 exists")])
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 2), now: Fx.now + 10, cluster: cluster))
                == [.wait(reason: "handing leadership to c")])
    }

    /// pg_promote() does not update pg_control's "Latest checkpoint's TimeLineID" until the
    /// checkpoint after promotion: a freshly promoted leader whose primary crashes in that window
    /// has control timeline 2 while the history row it wrote itself says 3. That is its own
    /// newest promotion, not divergence: it restarts in place.
    @Test func freshlyPromotedPrimaryIsNotTakenForDiverged() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("a", timeline: 3), Fx.member("b", timeline: 3)),
                                 history: Fx.history(2, 3, newPrimary: "a"))
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.crashedPrimary(timeline: 2))) == [Campaign.notStandby, .startPrimary])
    }

    @Test func anEarlierOwnPromotionDoesNotExcuseDivergence() {
        // "a" promoted timeline 2, "b" timeline 3: "a"'s timeline-2 data diverged.
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b", timeline: 3), Fx.member("c", timeline: 3)),
                                 history: [HistoryRow(timeline: 2, lsn: LSN(200), atUnixMs: 0, reason: "failover", oldPrimary: nil, newPrimary: "a"),
                                           HistoryRow(timeline: 3, lsn: LSN(300), atUnixMs: 0, reason: "failover", oldPrimary: "a", newPrimary: "b")])
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.crashedPrimary(timeline: 2))).withoutCampaign
                == [.transferLeadership(to: "b", raftID: 2, reason: "this node's data ends on timeline 2 but timeline 3 exists")])
    }

    @Test func divergedDataWithoutACandidateWaits() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.history = Fx.history(2, 3, newPrimary: "b")
        cluster.members = Fx.members(Fx.primary("a"))
        #expect(node.decide(Self.input(Fx.stoppedFormerPrimary(timeline: 1), cluster: cluster))
                == [Campaign.notStandby, .wait(reason: "this node's data is behind timeline 3 and no member can take over")])
    }

    @Test func divergedDataIsHandedOverEvenWhileStarting() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.history = Fx.history(3, newPrimary: "b")
        let starting = Fx.starting(asPrimary: true, timeline: 2, since: Fx.now)
        #expect(node.decide(Self.input(starting, cluster: cluster)).withoutCampaign.first?.isTransfer == true)
    }

    @Test func withoutHistoryAnyTimelineMayRestart() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.history = []
        #expect(node.decide(Self.input(Fx.crashedPrimary(timeline: 1), cluster: cluster)) == [Campaign.notStandby, .startPrimary])
    }

    @Test func leaderWithStandbyDataStartsItInRecovery() {
        var node = HANode()
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 2))) == [Campaign.notStandby, .startReplica(following: nil)])
        let crashed = Fx.down(.inArchiveRecovery, timeline: 2, process: .crashed(at: Fx.t(1)))
        #expect(node.decide(Self.input(crashed)) == [.startReplica(following: nil)])
    }

    @Test func leaderWithStandbyDataStartingWaits() {
        var node = HANode()
        let starting = Fx.starting(asPrimary: false, timeline: 2, since: Fx.now)
        #expect(node.decide(Self.input(starting)) == [Campaign.notStandby, .wait(reason: "starting Postgres as a standby")])
    }

    @Test func leaderWithStandbyDataBacksOffAfterAFailedStart() {
        var node = HANode()
        node.record(.startFailed(at: Fx.t(Fx.now), reason: "x"))
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 2), now: Fx.now + 4_999))
                == [Campaign.notStandby, .wait(reason: "Postgres failed to start; retrying soon")])
        #expect(node.decide(Self.input(Fx.stoppedStandby(timeline: 2), now: Fx.now + 5_000)) == [.startReplica(following: nil)])
    }

    @Test func leaderStandbyThatCameUpGoesOnToFailover() {
        var node = HANode()
        _ = node.decide(Self.input(Fx.stoppedStandby(timeline: 2)))
        #expect(node.decide(Self.input(Fx.runningReplica(following: nil, timeline: 2)))
                == [Campaign.runningStandby, .gatherStatus(term: Fx.term)])
    }
}

/// `handOver`: a leader that cannot run the primary itself (no data, a primary that did not come
/// up, diverged data, a refused directory) hands Raft leadership to the best running standby by
/// the periodic reports, and only to a Raft voter (leadership cannot go to anyone else).
@Suite struct HANodeHandOverTests {
    static let timeoutReason = "Postgres did not come up as primary within primary_start_timeout"
    /// "x" and "y" report the most WAL but are not Raft voters.
    static let cluster = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", lsn: 900), Fx.member("c", state: .stopped),
                                                        Fx.member("x", lsn: 9_000), Fx.member("y", lsn: 8_000)),
                                    config: Fx.config { $0.primaryStartTimeoutMs = 0 })

    @Test func onlyAVoterIsHandedLeadership() {
        var node = HANode()
        #expect(node.decide(Fx.leader(cluster: Self.cluster, local: Fx.crashedPrimary())).withoutCampaign
                == [.transferLeadership(to: "b", raftID: 2, reason: Self.timeoutReason)])
        var empty = HANode()
        #expect(empty.decide(Fx.leader(cluster: Self.cluster, local: Fx.emptyDir)).withoutCampaign
                == [.transferLeadership(to: "b", raftID: 2, reason: "the leader has no data directory")])
    }

    @Test func nonVotersAloneAreNoCandidates() {
        var cluster = Self.cluster
        cluster.members["b"] = nil
        var node = HANode()
        // primary_start_timeout 0: a new period at once, and the restart in place
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.crashedPrimary())).withoutCampaign == [.startPrimary])
        var empty = HANode()
        #expect(empty.decide(Fx.leader(cluster: cluster, local: Fx.emptyDir)).withoutCampaign
                == [.wait(reason: "leader without data, and no member to hand leadership to")])
        var diverged = HANode()
        cluster.history = Fx.history(2, newPrimary: "x")
        #expect(diverged.decide(Fx.leader(cluster: cluster, local: Fx.crashedPrimary())).withoutCampaign
                == [.wait(reason: "this node's data is behind timeline 2 and no member can take over")])
    }

    @Test func aVoterSetWithoutThisNodeStillRestricts() {
        var node = HANode()
        var input = Fx.leader(cluster: Self.cluster, local: Fx.crashedPrimary())
        input.raft.voters = [1: "a", Fx.raftID("y"): "y"]
        #expect(node.decide(input).withoutCampaign == [.transferLeadership(to: "y", raftID: Fx.raftID("y"), reason: Self.timeoutReason)])
    }

    @Test func withoutAVoterListEveryReportedMemberIsACandidate() {
        var node = HANode()
        var input = Fx.leader(cluster: Self.cluster, local: Fx.crashedPrimary())
        input.raft.voters = [:]
        #expect(node.decide(input).withoutCampaign == [.transferLeadership(to: "x", raftID: Fx.raftID("x"), reason: Self.timeoutReason)])
    }

    @Test func neverToItself() {
        var node = HANode()
        var cluster = Self.cluster
        cluster.members = Fx.members(Fx.member("a", lsn: 99_999))
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.emptyDir)).withoutCampaign
                == [.wait(reason: "leader without data, and no member to hand leadership to")])
    }
}
