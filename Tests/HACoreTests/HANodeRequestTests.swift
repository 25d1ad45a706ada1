import Testing
@testable import HACore

/// Builders for inputs with a `failover` request in the cluster view.
private enum Rq {
    static func switchover(leader: String? = "a", candidate: String? = nil, at: UInt64? = nil) -> FailoverRequest {
        FailoverRequest(kind: .switchover, leader: leader, candidate: candidate, scheduledAtUnixMs: at, id: "req-1",
                        requestedAtUnixMs: 1_000)
    }

    static func failover(candidate: String?, leader: String? = nil) -> FailoverRequest {
        FailoverRequest(kind: .failover, leader: leader, candidate: candidate, id: "req-2", requestedAtUnixMs: 1_000)
    }

    static func cluster(_ request: FailoverRequest?, members: [String: MemberStatus] = Fx.healthyMembers,
                        lastPrimaryLSN: UInt64? = nil, history: [HistoryRow] = [], pause: Bool = false) -> ClusterView {
        var c = Fx.cluster(members: members, lastPrimaryLSN: lastPrimaryLSN, history: history,
                           config: Fx.config { $0.pause = pause })
        c.failover = request
        return c
    }

    /// The leader `me` (default "a") with `request` pending, at wall-clock `wall`.
    static func leader(_ request: FailoverRequest?, me: String = "a", local: LocalPostgres = Fx.runningPrimary(),
                       members: [String: MemberStatus] = Fx.healthyMembers, lastPrimaryLSN: UInt64? = nil,
                       pause: Bool = false, now: UInt64 = Fx.now, lease: Bool = true, wall: UInt64 = 5_000) -> HAInput {
        var input = Fx.leader(me, now: now, lease: lease,
                              cluster: cluster(request, members: members, lastPrimaryLSN: lastPrimaryLSN, pause: pause),
                              local: local)
        input.wallClockUnixMs = wall
        return input
    }
}

extension HAAction {
    fileprivate var isClearFailover: Bool { if case .clearFailover = self { return true }; return false }
    fileprivate var clearReason: String? { if case .clearFailover(let r) = self { return r }; return nil }
}

@Suite struct HANodeRequestTests {
    // MARK: The running primary hands over

    @Test func dueSwitchoverWithoutCandidateGoesToTheBestReplica() {
        var node = HANode()
        // b and c are equal; c is further ahead, so it is the best.
        let members = Fx.members(Fx.primary("a", lsn: 2_000), Fx.member("b", lsn: 1_500, following: "a"),
                                 Fx.member("c", lsn: 1_900, following: "a"))
        #expect(node.decide(Rq.leader(Rq.switchover(), members: members)).withoutCampaign
                == [.switchover(to: "c", raftID: 3, kind: .switchover)])
    }

    @Test func dueSwitchoverWithNamedCandidateGoesToIt() {
        var node = HANode()
        #expect(node.decide(Rq.leader(Rq.switchover(candidate: "c"))).withoutCampaign
                == [.switchover(to: "c", raftID: 3, kind: .switchover)])
        var other = HANode()
        #expect(other.decide(Rq.leader(Rq.switchover(leader: nil, candidate: "b"))).withoutCampaign
                == [.switchover(to: "b", raftID: 2, kind: .switchover)])
    }

    @Test func failoverRequestOnARunningPrimaryHandsOverCleanlyToo() {
        var node = HANode()
        #expect(node.decide(Rq.leader(Rq.failover(candidate: "b"))).withoutCampaign
                == [.switchover(to: "b", raftID: 2, kind: .failover)])
    }

    @Test func switchoverIsDueExactlyAtItsScheduledTime() {
        var node = HANode()
        #expect(node.decide(Rq.leader(Rq.switchover(candidate: "b", at: 5_000), wall: 5_000)).withoutCampaign
                == [.switchover(to: "b", raftID: 2, kind: .switchover)])
    }

    @Test func scheduledSwitchoverInTheFutureLeavesTheNormalActions() {
        var node = HANode()
        #expect(node.decide(Rq.leader(Rq.switchover(candidate: "b", at: 5_001), wall: 5_000)).withoutCampaign
                == [.syncSlots(["b", "c"])])
        // Once due, it runs.
        #expect(node.decide(Rq.leader(Rq.switchover(candidate: "b", at: 5_001), wall: 5_001)).withoutCampaign
                == [.switchover(to: "b", raftID: 2, kind: .switchover)])
    }

    // MARK: Requests that cannot be carried out are dropped

    static let tip: UInt64 = 2_000_000
    static let excludedCandidates: [(MemberStatus, String)] = [
        (Fx.member("c", lsn: tip, tags: Tags(noFailover: true), following: "a"), "tags forbid promotion"),
        (Fx.member("c", lsn: tip, tags: Tags(failoverPriority: 0), following: "a"), "tags forbid promotion"),
        (Fx.member("c", state: .stopped, lsn: tip), "Postgres is stopped"),
        (Fx.member("c", sysid: Fx.otherSysid, lsn: tip, following: "a"), "another cluster's data"),
        (Fx.member("c", role: .primary, lsn: tip), "not a standby (primary)"),
        (Fx.member("c", lsn: 10, following: "a"),
         "1999990 bytes behind the last primary position 0/1E8480 (maximum_lag_on_failover 1048576)"),
    ]

    @Test(arguments: excludedCandidates)
    func namedCandidateThatIsExcludedClearsTheRequest(c: MemberStatus, why: String) {
        var node = HANode()
        let members = Fx.members(Fx.primary("a", lsn: Self.tip), Fx.member("b", lsn: Self.tip, following: "a"), c)
        let actions = node.decide(Rq.leader(Rq.switchover(candidate: "c"), members: members, lastPrimaryLSN: Self.tip))
            .withoutCampaign
        #expect(actions == [.clearFailover(reason: "the candidate c cannot be promoted: \(why)")])
    }

    /// A running standby whose WAL receiver is not streaming (it replays from the archive, or
    /// lost its primary) cannot receive the old primary's shutdown checkpoint: a switchover to
    /// it can only time out.
    @Test(.bug("Placement does not exclude a non-streaming standby as a switchover candidate"))
    func namedCandidateThatIsNotStreamingClearsTheRequest() {
        var node = HANode()
        var c = Fx.member("c", following: "a")
        c.streaming = false
        let members = Fx.members(Fx.primary("a"), Fx.member("b", following: "a"), c)
        let actions = node.decide(Rq.leader(Rq.switchover(candidate: "c"), members: members)).withoutCampaign
        #expect(actions == [.clearFailover(reason: "the candidate c does not stream from the primary")], "\(actions)")
    }

    @Test func namedCandidateWithoutARecentReportClearsTheRequest() {
        var node = HANode()
        let members = Fx.members(Fx.primary("a"), Fx.member("b", following: "a"))
        let actions = node.decide(Rq.leader(Rq.switchover(candidate: "c"), members: members)).withoutCampaign
        #expect(actions == [.clearFailover(reason: "the candidate c is not a member with a recent report")])
    }

    @Test func switchoverNamingAnotherLeaderClearsTheRequest() {
        var node = HANode()
        let actions = node.decide(Rq.leader(Rq.switchover(leader: "b", candidate: "c"))).withoutCampaign
        #expect(actions == [.clearFailover(reason: "the switchover names b as primary, but a is the leader")])
    }

    @Test func switchoverWithoutAnyQualifyingMemberClearsTheRequest() {
        var node = HANode()
        let members = Fx.members(Fx.primary("a"), Fx.member("b", tags: Tags(noFailover: true), following: "a"),
                                 Fx.member("c", state: .stopped))
        let actions = node.decide(Rq.leader(Rq.switchover(), members: members)).withoutCampaign
        #expect(actions.count == 1 && actions[0].isClearFailover, "\(actions)")
        #expect(actions.first?.clearReason?.hasPrefix("no member qualifies for the switchover") == true)
    }

    // MARK: The candidate

    @Test func candidateAsLeaderWithRunningReplicaPromotes() {
        var node = HANode()
        let input = Rq.leader(Rq.switchover(leader: "a", candidate: "b"), me: "b", local: Fx.runningReplica(following: "a"))
        #expect(node.decide(input).withoutCampaign == [.promote(reason: "switchover", oldPrimary: "a")])
    }

    @Test func candidateOfAManualFailoverPromotesWithThatReason() {
        var node = HANode()
        var input = Rq.leader(Rq.failover(candidate: "b"), me: "b", local: Fx.runningReplica(following: "a"))
        input.cluster.lastPrimary = "a"
        #expect(node.decide(input).withoutCampaign == [.promote(reason: "manual failover", oldPrimary: "a")])
    }

    @Test func candidateAlreadyRunningAsPrimaryClearsTheRequest() {
        var node = HANode()
        let input = Rq.leader(Rq.switchover(leader: "a", candidate: "b"), me: "b", local: Fx.runningPrimary())
        #expect(node.decide(input).withoutCampaign == [.clearFailover(reason: "switchover completed: b is the primary")])
    }

    @Test func candidateWithoutARunningStandbyClearsTheRequest() {
        var node = HANode()
        let input = Rq.leader(Rq.switchover(leader: "a", candidate: "b"), me: "b", local: Fx.stoppedStandby())
        #expect(node.decide(input).withoutCampaign == [.clearFailover(reason: "the candidate b has no running standby to promote")])
    }

    @Test func candidateWhosePromotionFailedWaitsBeforeRetrying() {
        var node = HANode()
        node.record(.promoteFailed(at: Fx.t(Fx.now - 100), reason: "boom"))
        let input = Rq.leader(Rq.switchover(leader: "a", candidate: "b"), me: "b", local: Fx.runningReplica(following: "a"))
        #expect(node.decide(input).withoutCampaign == [.wait(reason: "promotion failed; retrying soon")])
    }

    // MARK: A failover while the leader's Postgres is down

    @Test func failoverWhileTheLeadersPostgresIsDownTransfersThenGivesUp() {
        var node = HANode()
        let request = Rq.failover(candidate: "c")
        #expect(node.decide(Rq.leader(request, local: Fx.crashedPrimary())).withoutCampaign
                == [.transferLeadership(to: "c", raftID: 3, reason: "manual failover to c")])
        let timeout = DynamicConfig().transferTimeoutMs
        #expect(node.decide(Rq.leader(request, local: Fx.crashedPrimary(), now: Fx.now + timeout - 1)).withoutCampaign
                == [.wait(reason: "handing leadership to c for the failover")])
        #expect(node.decide(Rq.leader(request, local: Fx.crashedPrimary(), now: Fx.now + timeout)).withoutCampaign
                == [.clearFailover(reason: "the leadership transfer to c did not complete")])
    }

    @Test func switchoverWhileTheLeadersPostgresIsDownIsDropped() {
        var node = HANode()
        let actions = node.decide(Rq.leader(Rq.switchover(candidate: "b"), local: Fx.crashedPrimary())).withoutCampaign
        #expect(actions.count == 1 && actions[0].isClearFailover, "\(actions)")
    }

    @Test func requestIsIgnoredByALeaderWithoutLease() {
        var node = HANode()
        #expect(node.decide(Rq.leader(Rq.switchover(candidate: "b"), lease: false)).withoutCampaign
                == [.fence(reason: "leader without a valid lease")])
    }

    // MARK: Maintenance mode

    @Test func pausedLeaderWhosePrimaryCrashedWaitsInsteadOfStartingIt() {
        var node = HANode()
        #expect(node.decide(Rq.leader(nil, local: Fx.crashedPrimary(), pause: true)).withoutCampaign
                == [.wait(reason: "maintenance mode (pause): not doing startPrimary")])
        var unpaused = HANode()
        #expect(unpaused.decide(Rq.leader(nil, local: Fx.crashedPrimary())).withoutCampaign == [.startPrimary])
    }

    @Test func pausedLeaderWithoutLeaseStillFences() {
        var node = HANode()
        #expect(node.decide(Rq.leader(nil, pause: true, lease: false)).withoutCampaign
                == [.fence(reason: "leader without a valid lease")])
    }

    @Test func pausedFollowerRunningAPrimaryStillFences() {
        var node = HANode()
        var input = Fx.follower(cluster: Rq.cluster(nil, pause: true), local: Fx.runningPrimary())
        input.wallClockUnixMs = 5_000
        #expect(node.decide(input).withoutCampaign == [.fence(reason: "this node is not the Raft leader")])
    }

    @Test func pausedLeaderOnAStandbyDoesNotPromote() {
        var node = HANode()
        var input = Rq.leader(nil, me: "b", local: Fx.runningReplica(following: "a"), pause: true)
        #expect(node.decide(input).withoutCampaign == [.gatherStatus(term: Fx.term)])
        input.statusRound = Fx.round(Fx.member("b", lsn: 2_000), Fx.member("c", lsn: 1_000))
        #expect(node.decide(input).withoutCampaign == [.wait(reason: "maintenance mode (pause): not doing promote")])
    }

    @Test func pausedFollowerDoesNotStartItsStandby() {
        var node = HANode()
        let input = Fx.follower(cluster: Rq.cluster(nil, pause: true), local: Fx.stoppedStandby())
        #expect(node.decide(input).withoutCampaign == [.wait(reason: "maintenance mode (pause): not doing startReplica")])
    }

    /// A former primary needing a rewind must not be rewound in maintenance mode (pg_rewind
    /// changes its data directory) unless an operator's switchover demoted it.
    /// (Found by this test: the `where` applied only to `.startReplica`, so `.rewind` always passed.)
    @Test func pausedFollowerNeedingARewindWaits() {
        var node = HANode()
        let history = [HistoryRow(timeline: 2, lsn: LSN(500), atUnixMs: 1, reason: "failover", oldPrimary: "b", newPrimary: "a")]
        let input = Fx.follower(cluster: Rq.cluster(nil, history: history, pause: true), local: Fx.stoppedFormerPrimary())
        #expect(node.decide(input).withoutCampaign == [.wait(reason: "maintenance mode (pause): not doing rewind")])
        // Without history at all, the same.
        var other = HANode()
        let bare = Fx.follower(cluster: Rq.cluster(nil, pause: true), local: Fx.stoppedFormerPrimary())
        #expect(other.decide(bare).withoutCampaign == [.wait(reason: "maintenance mode (pause): not doing rewind")])
    }

    @Test func pausedFollowerDemotedBySwitchoverRejoins() {
        let history = [HistoryRow(timeline: 2, lsn: LSN(500), atUnixMs: 1, reason: "switchover", oldPrimary: "b", newPrimary: "a")]
        var node = HANode()
        let former = Fx.follower(cluster: Rq.cluster(nil, history: history, pause: true), local: Fx.stoppedFormerPrimary())
        #expect(node.decide(former).withoutCampaign == [.rewind(from: "a")])
        var other = HANode()
        let standby = Fx.follower(cluster: Rq.cluster(nil, history: history, pause: true), local: Fx.stoppedStandby(timeline: 2))
        #expect(other.decide(standby).withoutCampaign == [.startReplica(following: "a")])
    }

    @Test func pausedFollowerDemotedBySwitchoverOfAnotherMemberWaits() {
        // The last switchover demoted c, not b: b's own start stays paused.
        let history = [HistoryRow(timeline: 2, lsn: LSN(500), atUnixMs: 1, reason: "switchover", oldPrimary: "c", newPrimary: "a")]
        var node = HANode()
        let standby = Fx.follower(cluster: Rq.cluster(nil, history: history, pause: true), local: Fx.stoppedStandby(timeline: 2))
        #expect(node.decide(standby).withoutCampaign == [.wait(reason: "maintenance mode (pause): not doing startReplica")])
    }

    @Test func requestsStillRunInMaintenanceMode() {
        var node = HANode()
        #expect(node.decide(Rq.leader(Rq.switchover(candidate: "b"), pause: true)).withoutCampaign
                == [.switchover(to: "b", raftID: 2, kind: .switchover)])
        var candidate = HANode()
        let input = Rq.leader(Rq.switchover(leader: "a", candidate: "b"), me: "b", local: Fx.runningReplica(following: "a"), pause: true)
        #expect(candidate.decide(input).withoutCampaign == [.promote(reason: "switchover", oldPrimary: "a")])
    }
}
