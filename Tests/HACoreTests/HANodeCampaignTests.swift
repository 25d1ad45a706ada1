import Testing
@testable import HACore

/// Identity refusals and the `setMayCampaign` bookkeeping, for leaders and followers alike.
@Suite struct HANodeRefusalTests {
    static func otherClusterReason(_ found: UInt64 = Fx.otherSysid) -> String {
        "the data directory holds another Postgres cluster (system identifier \(found)); "
            + "this cluster's is \(Fx.sysid). Move the directory away (or delete it) and this node will take a "
            + "fresh base backup from the primary, or point data_dir at this cluster's directory."
    }
    static let unusableReason =
        "the data directory cannot be used (PG_VERSION says 13); move it away so this node takes a fresh base backup"
    /// A refusing leader hands leadership to the best voter by the periodic reports.
    static func handOver(to member: String = "b") -> HAAction {
        .transferLeadership(to: member, raftID: Fx.raftID(member), reason: "the leader cannot use its data directory")
    }

    @Test func followerWithAnotherClustersStoppedDataRefuses() {
        var node = HANode()
        let actions = node.decide(Fx.follower(local: Fx.down(sysid: Fx.otherSysid)))
        #expect(actions == [Campaign.refused, .refuse(reason: Self.otherClusterReason())])
        #expect(node.mayCampaign == false)
    }

    @Test func followerRunningAnotherClustersDataFencesFirst() {
        var node = HANode()
        let actions = node.decide(Fx.follower(local: Fx.runningReplica(sysid: Fx.otherSysid)))
        #expect(actions == [.fence(reason: "the data directory is not this cluster's"), Campaign.refused,
                            .refuse(reason: Self.otherClusterReason())])
    }

    @Test func leaderRunningAnotherClustersPrimaryFencesRefusesAndHandsOver() {
        var node = HANode()
        let actions = node.decide(Fx.leader(local: Fx.runningPrimary(sysid: Fx.otherSysid)))
        #expect(actions == [.fence(reason: "the data directory is not this cluster's"), Campaign.refused,
                            .refuse(reason: Self.otherClusterReason()), Self.handOver()])
    }

    @Test func leaderWithoutLeaseStillRefusesAnotherClustersDataAndHandsOver() {
        var node = HANode()
        let actions = node.decide(Fx.leader(lease: false, local: Fx.crashedPrimary().withSysid(Fx.otherSysid)))
        #expect(actions == [Campaign.refused, .refuse(reason: Self.otherClusterReason()), Self.handOver()])
    }

    /// A refusing leader must not keep Raft leadership, or no other member could become
    /// primary while it lives: it hands over to the healthy standbys "b" and "c".
    @Test func refusingLeaderHandsLeadershipOver() {
        var node = HANode()
        let actions = node.decide(Fx.leader(local: Fx.stoppedStandby().withSysid(Fx.otherSysid)))
        #expect(actions == [Campaign.refused, .refuse(reason: Self.otherClusterReason()), Self.handOver()])
    }

    @Test func refusingLeaderHandsOverToTheBestStandby() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b", lsn: 900), Fx.member("c", lsn: 950)))
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.stoppedStandby().withSysid(Fx.otherSysid))).withoutCampaign
                == [.refuse(reason: Self.otherClusterReason()), Self.handOver(to: "c")])
    }

    @Test func refusingLeaderDoesNotRepeatAPendingTransfer() {
        var node = HANode()
        let local = Fx.stoppedStandby().withSysid(Fx.otherSysid)
        _ = node.decide(Fx.leader(local: local))
        // within transfer_timeout: the refusal only (the hand-over's wait is not emitted)
        #expect(node.decide(Fx.leader(now: Fx.now + 2_999, local: local)) == [.refuse(reason: Self.otherClusterReason())])
        // still leader after transfer_timeout: transfer again
        #expect(node.decide(Fx.leader(now: Fx.now + 3_000, local: local))
                == [.refuse(reason: Self.otherClusterReason()), Self.handOver()])
    }

    @Test func refusingLeaderWithoutACandidateOnlyRefuses() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b", state: .stopped), Fx.member("c", tags: Tags(noFailover: true)),
                                                     Fx.member("x")))  // "x" is no Raft voter
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.stoppedStandby().withSysid(Fx.otherSysid)))
                == [Campaign.refused, .refuse(reason: Self.otherClusterReason())])
    }

    @Test func refusingLeaderHandsOverOnlyToAVoter() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.member("b", lsn: 900), Fx.member("x", lsn: 5_000)))
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.stoppedStandby().withSysid(Fx.otherSysid))).withoutCampaign
                == [.refuse(reason: Self.otherClusterReason()), Self.handOver(to: "b")])
    }

    @Test(arguments: [false, true])
    func refusalFencesAPostmasterThatIsStarting(startedAsPrimary: Bool) {
        var node = HANode()
        var local = Fx.down(.shutDownInRecovery, process: .starting(since: Fx.t(Fx.now - 100)), sysid: Fx.otherSysid)
        local.startedAsPrimary = startedAsPrimary
        #expect(node.decide(Fx.follower(local: local))
                == [.fence(reason: "the data directory is not this cluster's"), Campaign.refused,
                    .refuse(reason: Self.otherClusterReason())])
        var leader = HANode()
        #expect(leader.decide(Fx.leader(local: local))
                == [.fence(reason: "the data directory is not this cluster's"), Campaign.refused,
                    .refuse(reason: Self.otherClusterReason()), Self.handOver()])
    }

    @Test func refusalDoesNotFenceACrashedPostmaster() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.crashedPrimary().withSysid(Fx.otherSysid)))
                == [Campaign.refused, .refuse(reason: Self.otherClusterReason())])
    }

    @Test func unusableDirectoryRefuses() {
        var node = HANode()
        let local = LocalPostgres(dataDirectory: .unusable("PG_VERSION says 13"), process: .stopped)
        #expect(node.decide(Fx.follower(local: local)) == [Campaign.refused, .refuse(reason: Self.unusableReason)])
    }

    @Test func unusableDirectoryRefusedEvenBeforeBootstrapAndOnTheLeader() {
        var node = HANode()
        let local = LocalPostgres(dataDirectory: .unusable("PG_VERSION says 13"), process: .stopped)
        let input = Fx.leader(cluster: Fx.cluster(sysid: nil), local: local)
        #expect(node.decide(input) == [Campaign.refused, .refuse(reason: Self.unusableReason), Self.handOver()])
    }

    @Test func runningOnUnusableDirectoryFencesFirst() {
        var node = HANode()
        let local = LocalPostgres(dataDirectory: .unusable("PG_VERSION says 13"), process: .running,
                                  running: RunningPostgres(inRecovery: true, timeline: 1))
        #expect(node.decide(Fx.follower(local: local))
                == [.fence(reason: "the data directory is not this cluster's"), Campaign.refused,
                    .refuse(reason: Self.unusableReason)])
    }

    @Test func repeatedRefusalDoesNotRepeatSetMayCampaign() {
        var node = HANode()
        let input = Fx.follower(local: Fx.down(sysid: Fx.otherSysid))
        _ = node.decide(input)
        #expect(node.decide(input) == [.refuse(reason: Self.otherClusterReason())])
    }

    @Test func refusalAfterCampaigningRevokesIt() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.runningReplica())) == [Campaign.runningStandby])
        #expect(node.decide(Fx.follower(local: Fx.down(sysid: Fx.otherSysid)))
                == [Campaign.refused, .refuse(reason: Self.otherClusterReason())])
    }

    @Test func anyDataIsAcceptedBeforeBootstrap() {
        var node = HANode()
        let input = Fx.follower(cluster: Fx.cluster(sysid: nil), local: Fx.down(sysid: Fx.otherSysid))
        #expect(node.decide(input)
                == [Campaign.unbootstrapped, .wait(reason: "the cluster is not bootstrapped yet; waiting for the leader")])
    }

    @Test func thisClustersDataIsNotRefused() {
        var node = HANode()
        let actions = node.decide(Fx.follower(local: Fx.stoppedStandby()))
        #expect(!actions.contains { $0.isRefuse })
    }
}

@Suite struct HANodeCampaignTests {
    @Test func emittedOnlyOnChange() {
        var node = HANode()
        #expect(node.mayCampaign == nil)
        let standby = Fx.follower(local: Fx.runningReplica())
        #expect(node.decide(standby) == [Campaign.runningStandby])
        #expect(node.mayCampaign == true)
        #expect(node.decide(standby) == [])
        #expect(node.decide(standby) == [])
        let crashed = Fx.follower(local: Fx.down(process: .crashed(at: Fx.t(Fx.now))))
        #expect(node.decide(crashed).first == Campaign.notStandby)
        #expect(node.mayCampaign == false)
        #expect(node.decide(crashed).contains { $0.isSetMayCampaign } == false)
        #expect(node.decide(standby) == [Campaign.runningStandby])
    }

    @Test func sameValueWithAnotherReasonIsNotReemitted() {
        var node = HANode()
        // false because of tags, then false because it is stopped: no new setMayCampaign.
        #expect(node.decide(Fx.follower(tags: Tags(noFailover: true), local: Fx.runningReplica())) == [Campaign.tagsForbid])
        let actions = node.decide(Fx.follower(local: Fx.stoppedStandby()))
        #expect(actions == [.startReplica(following: "a")])
    }

    @Test(arguments: [Tags(noFailover: true), Tags(failoverPriority: 0), Tags(failoverPriority: -3),
                      Tags(noFailover: true, failoverPriority: 5)])
    func tagsForbidCampaigningEvenForARunningStandby(tags: Tags) {
        var node = HANode()
        #expect(node.decide(Fx.follower(tags: tags, local: Fx.runningReplica())) == [Campaign.tagsForbid])
    }

    @Test func tagsForbidCampaigningBeforeBootstrap() {
        var node = HANode()
        let input = Fx.follower(tags: Tags(noFailover: true), cluster: Fx.cluster(sysid: nil), local: Fx.emptyDir)
        #expect(node.decide(input).first == Campaign.tagsForbid)
    }

    @Test func tagsForbidCampaigningForALeaderRunningThePrimary() {
        var node = HANode()
        let actions = node.decide(Fx.leader(tags: Tags(failoverPriority: 0), local: Fx.runningPrimary()))
        #expect(actions == [Campaign.tagsForbid, .syncSlots(["b", "c"])])
    }

    @Test(arguments: [Fx.emptyDir, Fx.stoppedStandby(), Fx.stoppedFormerPrimary(), Fx.runningReplica(),
                      Fx.down(process: .starting(since: Fx.t(1)))])
    func everyoneMayCampaignBeforeBootstrap(local: LocalPostgres) {
        var node = HANode()
        let actions = node.decide(Fx.follower(cluster: Fx.cluster(sysid: nil), local: local))
        #expect(actions.first == Campaign.unbootstrapped)
    }

    @Test func runningStandbyMayCampaign() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.runningReplica())) == [Campaign.runningStandby])
    }

    @Test(arguments: [Fx.stoppedStandby(), Fx.stoppedFormerPrimary(), Fx.crashedPrimary(), Fx.emptyDir,
                      Fx.down(process: .starting(since: Fx.t(1)))])
    func nodeWithoutARunningStandbyMayNotCampaign(local: LocalPostgres) {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: local)).first == Campaign.notStandby)
    }

    @Test func followerRunningAPrimaryMayNotCampaign() {
        var node = HANode()
        #expect(node.decide(Fx.follower(local: Fx.runningPrimary()))
                == [Campaign.notStandby, .fence(reason: "this node is not the Raft leader")])
    }

    @Test func leaderRunningThePrimaryMayCampaign() {
        var node = HANode()
        #expect(node.decide(Fx.leader(local: Fx.runningPrimary())).first == Campaign.runsPrimary)
    }

    @Test func runningButUnansweringPostgresIsNotAStandby() {
        var node = HANode()
        let local = LocalPostgres(dataDirectory: .initialized(Fx.control()), process: .running, running: nil)
        #expect(node.decide(Fx.follower(local: local))
                == [Campaign.notStandby, .wait(reason: "Postgres runs but does not answer queries yet")])
    }
}

extension LocalPostgres {
    func withSysid(_ sysid: UInt64) -> LocalPostgres {
        var copy = self
        if case .initialized(var c) = dataDirectory {
            c.systemIdentifier = sysid
            copy.dataDirectory = .initialized(c)
        }
        return copy
    }
}
