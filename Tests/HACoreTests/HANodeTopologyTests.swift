import Testing
@testable import HACore

/// Whom a standby streams from and clones from (`replicatefrom`, `clonefrom`, a leader that is
/// not a primary yet), and the running primary's synchronous-replication steps in the decision.
@Suite struct HANodeTopologyTests {
    @Test func aStandbyDoesNotFollowALeaderThatIsNotAPrimaryYet() {
        var node = HANode()
        // b became leader but still reports itself a standby: c keeps its upstream for now.
        let cluster = Fx.cluster(members: Fx.members(Fx.member("a", role: .primary, state: .crashed, lsn: nil),
                                                     Fx.member("b"), Fx.member("c", following: "a")))
        let actions = node.decide(Fx.follower("c", leader: "b", cluster: cluster, local: Fx.runningReplica(following: "a"))).withoutCampaign
        #expect(actions == [.wait(reason: "the leader b is not a primary yet; following it once it is")])
        // Once b reports itself primary, c follows it.
        let promoted = Fx.cluster(members: Fx.members(Fx.primary("b"), Fx.member("c", following: "a")))
        #expect(node.decide(Fx.follower("c", leader: "b", cluster: promoted, local: Fx.runningReplica(following: "a"))).withoutCampaign
                == [.follow("b")])
    }

    @Test func replicatefromCascadesFromAStreamingStandbyElseFromTheLeader() {
        var node = HANode()
        let tags = Tags(replicateFrom: "b")
        let healthy = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", following: "a"), Fx.member("c", following: "a")))
        #expect(node.decide(Fx.follower("c", tags: tags, cluster: healthy, local: Fx.runningReplica(following: "a"))).withoutCampaign
                == [.follow("b")])
        #expect(node.decide(Fx.follower("c", tags: tags, cluster: healthy, local: Fx.runningReplica(following: "b"))).withoutCampaign == [])
        // b down: back to the primary.
        let bDown = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", state: .stopped), Fx.member("c", following: "b")))
        #expect(node.decide(Fx.follower("c", tags: tags, cluster: bDown, local: Fx.runningReplica(following: "b"))).withoutCampaign
                == [.follow("a")])
    }

    @Test func thePrimaryKeepsNoSlotForACascadingMember() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", following: "a"),
                                                     Fx.member("c", tags: Tags(replicateFrom: "b"), following: "b")))
        #expect(node.decide(Fx.leader(cluster: cluster, local: Fx.runningPrimary())).withoutCampaign == [.syncSlots(["b"])])
    }

    @Test func aSlotStillInUseIsDroppedOnALaterTry() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", following: "a"),
                                                     Fx.member("c", tags: Tags(replicateFrom: "b"), following: "b")))
        var local = Fx.runningPrimary()
        local.running?.slots = ["b", "c"]
        #expect(node.decide(Fx.leader(cluster: cluster, local: local)).withoutCampaign == [.syncSlots(["b"])])
        #expect(node.decide(Fx.leader(now: Fx.now + 1_000, cluster: cluster, local: local)).withoutCampaign == [])
        #expect(node.decide(Fx.leader(now: Fx.now + HANode.retryAfterMs, cluster: cluster, local: local)).withoutCampaign == [.syncSlots(["b"])])
        local.running?.slots = ["b"]
        #expect(node.decide(Fx.leader(now: Fx.now + 3 * HANode.retryAfterMs, cluster: cluster, local: local)).withoutCampaign == [])
    }

    @Test func anEmptyMemberClonesFromTheClonefromMember() {
        var node = HANode()
        let cluster = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", tags: Tags(cloneFrom: true), following: "a")))
        #expect(node.decide(Fx.follower("c", cluster: cluster, local: Fx.emptyDir)).withoutCampaign == [.rebuild(from: "b")])
        let notStreaming = Fx.cluster(members: Fx.members(Fx.primary("a"), Fx.member("b", state: .stopped, tags: Tags(cloneFrom: true))))
        var other = HANode()
        #expect(other.decide(Fx.follower("c", cluster: notStreaming, local: Fx.emptyDir)).withoutCampaign == [.rebuild(from: "a")])
    }

    @Test func theRunningPrimaryEmitsItsSynchronousSteps() {
        var node = HANode()
        var cluster = Fx.cluster(config: Fx.config { $0.synchronousMode = .on })
        var local = Fx.runningPrimary()
        local.running?.replication = [ReplicationRow(applicationName: "b", state: "streaming", syncState: "async", flushLSN: LSN(1_000))]
        local.running?.synchronousStandbyNames = SynchronousStandbyNames.none
        let first = node.decide(Fx.leader(cluster: cluster, local: local)).withoutCampaign
        #expect(first.contains(.writeSync(SyncState(leader: "a", members: [], quorum: 0),
                                          reason: "a new primary claims nothing until its synchronous standbys are established")))
        cluster.sync = SyncState(leader: "a", members: [], quorum: 0)
        let second = node.decide(Fx.leader(cluster: cluster, local: local)).withoutCampaign
        #expect(second.contains(.writeSync(SyncState(leader: "a", members: ["b"], quorum: 0),
                                           reason: "before synchronous_standby_names changes to 'FIRST 1 (\"b\")'")))
        // In maintenance mode the steps go on: commits must not hang because the cluster is paused.
        cluster.config.pause = true
        cluster.sync = SyncState(leader: "a", members: ["b"], quorum: 0)
        let paused = node.decide(Fx.leader(cluster: cluster, local: local)).withoutCampaign
        #expect(paused.contains { if case .setSynchronousStandbyNames("FIRST 1 (\"b\")", _) = $0 { return true }; return false })
    }
}
