import Testing
@testable import RaftCore

/// Single-server membership changes (RaftNode+Membership.swift): a change takes effect on
/// each node when appended, one change at a time, and only after the leader committed an
/// entry of its own term.
@Suite struct MembershipTests {
    // MARK: Helpers

    private static func isInvalid(_ e: ProposalError?) -> Bool {
        if case .invalidConfigChange? = e { return true }
        return false
    }

    private static func members(_ voters: Set<NodeID>, learners: Set<NodeID> = []) -> Membership {
        Membership(voters: voters, learners: learners)
    }

    /// Proposes a change on `leader` and runs the cluster until it settles.
    private static func change(_ c: inout TestCluster, _ leader: UInt64, _ ch: ConfigChange) throws {
        try c[leader].proposeConfigChange(ch)
        c.stabilize()
    }

    // MARK: Adding a voter

    @Test func joiningNodeWithEmptyStorageCatchesUpAndAppliesTheSameEntries() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        try c.propose(1, "b")
        c.stabilize()

        c.add(RaftConfig(id: 4), storage: MemoryStorage())
        try Self.change(&c, 1, .addVoter(4))
        try c.propose(1, "c")
        c.stabilize()

        #expect(c[1].membership == Self.members([1, 2, 3, 4]))
        #expect(c[4].lastIndex == c[1].lastIndex)
        #expect(c[4].commitIndex == c[1].commitIndex)
        #expect(c.applied[4] == c.applied[1])
        #expect(c.appliedStrings(4) == ["a", "b", "c"])
        #expect(c[4].currentLeader == 1)
        #expect(c[4].currentTerm == c[1].currentTerm)
    }

    /// The joining node learns the membership from the leader: once it caught up it must hold
    /// the cluster's membership, not one built from the changes it saw applied to nothing.
    @Test func joiningNodeLearnsTheFullMembership() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        c.add(RaftConfig(id: 4), storage: MemoryStorage())
        try Self.change(&c, 1, .addVoter(4))

        #expect(c[1].membership == Self.members([1, 2, 3, 4]))
        #expect(c[4].membership == c[1].membership)
        #expect(c[4].membership(atIndex: c[4].lastIndex) == c[1].membership(atIndex: c[1].lastIndex))
    }

    /// Consequence of the above: a joined voter cut off from the other three of four voters
    /// cannot have a quorum, so it must never become leader on its own.
    @Test func joinedVoterCutOffFromTheClusterCannotElectItself() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        c.add(RaftConfig(id: 4), storage: MemoryStorage())
        try Self.change(&c, 1, .addVoter(4))
        #expect(c[4].lastIndex == c[1].lastIndex)

        c.isolate(4)
        let mark = c.sent.count
        c.tick(4, times: 60)
        #expect(c[4].currentRole != .leader)
        // It may ask for (pre)votes, but only ever from the other voters.
        let asked = c.sentSince(mark, kind: "preVote").map(\.to)
        #expect(Set(asked).isSubset(of: [1, 2, 3]))
        c.stabilize()
        #expect(c[4].currentRole != .leader)
        #expect(c[4].commitIndex <= c[1].lastIndex)

        // The rest (3 of 4 voters) commit the next entry; 4 must not have applied anything
        // different at that index.
        try c.propose(1, "y")
        c.stabilize()
        #expect(c.appliedStrings(1) == ["a", "y"])
        let byIndex1 = Dictionary(uniqueKeysWithValues: c.applied[1]!.map { ($0.index, $0) })
        for e in c.applied[4]! {
            #expect(byIndex1[e.index] == nil || byIndex1[e.index] == e, "4 applied \(e), 1 applied \(String(describing: byIndex1[e.index]))")
        }
    }

    @Test func addedVoterCountsTowardsQuorum() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.add(RaftConfig(id: 4), storage: MemoryStorage())
        try Self.change(&c, 1, .addVoter(4))
        #expect(c[1].membership.voters == [1, 2, 3, 4])

        // Four voters need three acknowledgements. With 3 down and 4 cut off, leader + 2 is
        // not enough.
        c.down.insert(3)
        c.cut(1, 4)
        let before = c[1].commitIndex
        try c.propose(1, "x")
        c.stabilize()
        #expect(c[1].commitIndex == before)
        #expect(c[2].lastIndex == c[1].lastIndex)  // 2 has it, yet it is not committed

        // Once 4 is reachable its acknowledgement is the one that completes the quorum.
        c.heal()
        c.tickAll(times: 2)
        #expect(c[1].commitIndex == c[1].lastIndex)
        #expect(c[1].commitIndex > before)
        #expect(c.appliedStrings(4) == ["x"])
        #expect(c.appliedStrings(1) == ["x"])
    }

    @Test func joiningNodeDoesNotCampaignBeforeItKnowsItIsAVoter() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        c.add(RaftConfig(id: 4), storage: MemoryStorage())
        #expect(!c[4].isPromotable)

        // Far past any election timeout, with no leader in sight.
        c.isolate(4)
        let mark = c.sent.count
        c.tick(4, times: 100)
        #expect(c[4].currentRole == .follower)
        #expect(c[4].currentTerm == .zero)
        #expect(c.sent[mark...].filter { $0.from == 4 }.isEmpty)
        let err = refusal { try c[4].campaign() }
        if case .cannotCampaign? = err {} else { Issue.record("campaign() on a non-member: \(String(describing: err))") }
    }

    // MARK: Learners

    @Test func learnerReplicatesButDoesNotCountAndNeverCampaigns() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        // The learner's storage knows the bootstrap membership (so this test does not depend on
        // how a node with empty storage learns it).
        c.add(RaftConfig(id: 4), storage: MemoryStorage(membership: Self.members([1, 2, 3])))
        try Self.change(&c, 1, .addLearner(4))
        try c.propose(1, "b")
        c.stabilize()

        #expect(c[1].membership == Self.members([1, 2, 3], learners: [4]))
        #expect(c[4].membership == c[1].membership)
        #expect(c.applied[4] == c.applied[1])
        #expect(c.appliedStrings(4) == ["a", "b"])

        // Only the leader and the learner are up: nothing commits.
        c.down.insert(2)
        c.down.insert(3)
        let commit = c[1].commitIndex
        try c.propose(1, "c")
        c.stabilize()
        #expect(c[4].lastIndex == c[1].lastIndex)  // the learner stored it...
        #expect(c[1].commitIndex == commit)        // ...but does not count for commit
        #expect(c[4].commitIndex == commit)
        #expect(c.appliedStrings(4) == ["a", "b"])

        // Its timer runs out many times over: it never campaigns.
        c.isolate(4)
        let mark = c.sent.count
        c.tick(4, times: 100)
        #expect(c[4].currentRole == .follower)
        #expect(c.sent[mark...].filter { $0.from == 4 }.isEmpty)
        #expect(!c[4].isPromotable)
        let err = refusal { try c[4].campaign() }
        if case .cannotCampaign? = err {} else { Issue.record("learner campaign(): \(String(describing: err))") }

        c.heal()
        c.down = []
        c.tickAll(times: 2)
        #expect(c[1].commitIndex == c[1].lastIndex)
        #expect(c.appliedStrings(4) == ["a", "b", "c"])
    }

    @Test func learnersDoNotCountEvenWhenTheyOutnumberTheMissingVoters() throws {
        // Leader + two learners are three of five members, but only one of three voters.
        var c = TestCluster([1, 2, 3], learners: [4, 5])
        c.elect(1)
        c.down.insert(2)
        c.down.insert(3)
        let before = c[1].commitIndex
        try c.propose(1, "x")
        c.stabilize()
        #expect(c[4].lastIndex == c[1].lastIndex)
        #expect(c[5].lastIndex == c[1].lastIndex)
        #expect(c[1].commitIndex == before)
        #expect(c.appliedStrings(4).isEmpty)
        // Learners do not vote either: with the voters gone nobody can be elected.
        c.down.insert(1)
        c.tickAll(times: 50)
        #expect(c[4].currentRole == .follower)
        #expect(c[5].currentRole == .follower)
    }

    @Test func promotedLearnerCountsTowardsQuorum() throws {
        var c = TestCluster([1, 2, 3], learners: [4])
        c.elect(1)
        #expect(c[1].membership == Self.members([1, 2, 3], learners: [4]))

        try Self.change(&c, 1, .addVoter(4))
        #expect(c[1].membership == Self.members([1, 2, 3, 4]))
        #expect(c[4].membership == Self.members([1, 2, 3, 4]))
        #expect(c[4].isPromotable)

        // Four voters: with 3 down, leader + 2 + 4 is a quorum and 4 is needed for it.
        c.down.insert(3)
        c.cut(1, 4)
        let before = c[1].commitIndex
        try c.propose(1, "x")
        c.stabilize()
        #expect(c[1].commitIndex == before)
        c.heal()
        c.tickAll(times: 2)
        #expect(c[1].commitIndex > before)
        #expect(c.appliedStrings(4) == ["x"])
    }

    // MARK: Removing

    @Test func removedFollowerStopsReceivingAppendsAndTheRestCommit() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try Self.change(&c, 1, .remove(3))
        #expect(c[1].membership == Self.members([1, 2]))
        #expect(c[2].membership == Self.members([1, 2]))
        #expect(c[1].tracker.progress[3] == nil)

        let mark = c.sent.count
        try c.propose(1, "x")
        c.stabilize()
        c.tickAll(times: 3)
        #expect(c[1].commitIndex == c[1].lastIndex)
        #expect(c.appliedStrings(1) == ["x"])
        #expect(c.appliedStrings(2) == ["x"])
        let toRemoved = c.sent[mark...].filter { $0.from == 1 && $0.to == 3 }
        #expect(toRemoved.isEmpty, "leader still talks to the removed node: \(toRemoved)")
        #expect(c[1].status.followers[3] == nil)
        #expect(c[1].currentRole == .leader)
    }

    @Test func twoVotersAfterRemovalNeedBoth() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try Self.change(&c, 1, .remove(3))
        // {1,2}: the removed node's acknowledgement can no longer help.
        c.down.insert(2)
        let before = c[1].commitIndex
        try c.propose(1, "x")
        c.stabilize()
        #expect(c[1].commitIndex == before)
    }

    @Test func removedLeaderReplicatesUntilCommittedThenStepsDown() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let term = c[1].currentTerm
        // 3 cannot hear the change yet: under {2,3} it needs both, so it cannot commit.
        c.cut(1, 3)
        let mark = c.sent.count
        try c[1].proposeConfigChange(.remove(1))
        let changeIndex = c[1].lastIndex
        c.stabilize()
        #expect(c[1].membership == Self.members([2, 3]))
        #expect(c[1].currentRole == .leader)
        #expect(c[1].commitIndex < changeIndex)
        // It still replicates the change although it is no longer a voter.
        let appends = c.sentSince(mark, kind: "append").filter { $0.from == 1 }
        #expect(Set(appends.map(\.to)) == [2, 3])
        #expect(c[2].lastIndex == changeIndex)

        c.heal()
        c.tickAll(times: 1)
        #expect(c[1].commitIndex >= changeIndex)
        #expect(c[2].commitIndex >= changeIndex)
        #expect(c[1].currentRole == .follower)
        #expect(c[1].currentTerm == term)

        // The remaining two elect a leader that can commit; the removed node never campaigns.
        c.tickAll(times: 40)
        let newLeader = try #require(c.leader)
        #expect([2, 3].contains(newLeader))
        #expect(c[1].currentRole == .follower)
        try c.propose(newLeader.rawValue, "after")
        c.stabilize()
        #expect(c.appliedStrings(2) == ["after"])
        #expect(c.appliedStrings(3) == ["after"])
        #expect(c.appliedStrings(1).isEmpty)
    }

    // MARK: Refusals

    @Test func secondChangeIsRefusedWhileTheFirstIsUncommitted() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c[1].proposeConfigChange(.addLearner(4))
        let pending = refusal { try c[1].proposeConfigChange(.addLearner(5)) }
        #expect(pending == .configChangePending)
        // Still refused when the first has reached the followers but not committed.
        c.cut(1, 2)
        c.cut(1, 3)
        c.stabilize()
        let still = refusal { try c[1].proposeConfigChange(.addLearner(5)) }
        #expect(still == .configChangePending)
        c.heal()
        c.tickAll(times: 2)
        #expect(c[1].commitIndex == c[1].lastIndex)
        try c[1].proposeConfigChange(.addLearner(5))
        #expect(c[1].membership == Self.members([1, 2, 3], learners: [4, 5]))
    }

    @Test func changeIsRefusedBeforeTheLeaderCommitsInItsTerm() throws {
        var c = TestCluster([1, 2, 3])
        c.warmUp()
        try c[1].campaign()
        var guardSteps = 0
        while c[1].currentRole != .leader && guardSteps < 1000 {
            c.flushAll()
            if c.queue.isEmpty { break }
            c.deliverNext()
            guardSteps += 1
        }
        #expect(c[1].currentRole == .leader)
        #expect(c[1].commitIndex < c[1].lastIndex)
        let early = refusal { try c[1].proposeConfigChange(.addLearner(4)) }
        #expect(early == .configChangePending)
        c.stabilize()
        #expect(c[1].commitIndex == c[1].lastIndex)
        try c[1].proposeConfigChange(.addLearner(4))
        #expect(c[1].membership.learners == [4])
    }

    @Test func noOpAndVoterlessChangesAreRefused() throws {
        var c = TestCluster([1, 2, 3], learners: [4])
        c.elect(1)
        #expect(Self.isInvalid(refusal { try c[1].proposeConfigChange(.addVoter(2)) }))
        #expect(Self.isInvalid(refusal { try c[1].proposeConfigChange(.addLearner(4)) }))
        #expect(Self.isInvalid(refusal { try c[1].proposeConfigChange(.remove(9)) }))
        #expect(Self.isInvalid(refusal { try c[1].proposeConfigChange(.addVoter(NodeID(0))) }))
        #expect(c[1].lastIndex == c[1].commitIndex)  // nothing was appended
        #expect(c[1].membership == Self.members([1, 2, 3], learners: [4]))

        var single = TestCluster([1], learners: [2])
        single.elect(1)
        #expect(single[1].currentRole == .leader)
        let last = single[1].lastIndex
        #expect(Self.isInvalid(refusal { try single[1].proposeConfigChange(.remove(1)) }))
        #expect(Self.isInvalid(refusal { try single[1].proposeConfigChange(.addLearner(1)) }))
        #expect(single[1].lastIndex == last)
        #expect(single[1].membership.voters == [1])
        // A valid change in the same state goes through (the refusals were not about timing).
        try single[1].proposeConfigChange(.addVoter(2))
        #expect(single[1].membership.voters == [1, 2])
    }

    @Test func followerRefusesChanges() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        let err = refusal { try c[2].proposeConfigChange(.addLearner(4)) }
        #expect(err == .notLeader(leader: 1))
        #expect(c[2].membership == Self.members([1, 2, 3]))
    }

    // MARK: Truncation

    @Test func truncatedChangeRevertsTheFollowersMembership() throws {
        var c = TestCluster([1, 2, 3, 4, 5])
        c.elect(1)
        let base = c[1].lastIndex
        // The change reaches only 2; it cannot commit (2 of 5).
        c.cut(1, 3)
        c.cut(1, 4)
        c.cut(1, 5)
        try c[1].proposeConfigChange(.addLearner(6))
        c.stabilize()
        let changeIndex = base + 1
        #expect(c[2].lastIndex == changeIndex)
        #expect(c[2].membership == Self.members([1, 2, 3, 4, 5], learners: [6]))
        #expect(c[2].commitIndex < changeIndex)

        // The old leader loses leadership; 3, 4 or 5 wins with a log that lacks the change.
        c.isolate(1)
        c[2].setMayCampaign(false)
        c.tickAll(times: 40)
        let l = try #require(c.leader)
        #expect([3, 4, 5].contains(l))
        #expect(c[2].currentLeader == l)
        // 2's copy of the change was overwritten by the new leader's entry.
        #expect(c[2].term(at: changeIndex) == c[l.rawValue].currentTerm)
        #expect(c[2].membership == Self.members([1, 2, 3, 4, 5]))
        #expect(c[2].membership(atIndex: changeIndex) == Self.members([1, 2, 3, 4, 5]))
        #expect(c[2].membershipChanges.isEmpty)
    }

    // MARK: Past memberships

    @Test func membershipAtIndexAnswersForPastIndices() throws {
        var c = TestCluster([1, 2, 3])
        c.elect(1)
        try c.propose(1, "a")
        c.stabilize()
        let k0 = c[1].lastIndex
        try Self.change(&c, 1, .addLearner(4))
        let k1 = c[1].lastIndex
        try c.propose(1, "b")
        c.stabilize()
        try Self.change(&c, 1, .addVoter(4))
        let k2 = c[1].lastIndex
        try Self.change(&c, 1, .remove(3))
        let k3 = c[1].lastIndex
        try c.propose(1, "c")
        c.stabilize()

        let initial = Self.members([1, 2, 3])
        let withLearner = Self.members([1, 2, 3], learners: [4])
        let four = Self.members([1, 2, 3, 4])
        let final = Self.members([1, 2, 4])
        for n: UInt64 in [1, 2] {
            let node = c[n]
            #expect(node.membership(atIndex: .zero) == initial)
            #expect(node.membership(atIndex: k0) == initial)
            #expect(node.membership(atIndex: k1) == withLearner)
            #expect(node.membership(atIndex: k1 + 1) == withLearner)
            #expect(node.membership(atIndex: k2) == four)
            #expect(node.membership(atIndex: k3 - 1) == four)
            #expect(node.membership(atIndex: k3) == final)
            #expect(node.membership(atIndex: node.lastIndex) == final)
            #expect(node.membership == final)
        }

        // After compaction at k2 and a restart, indices before the snapshot are unknown, the
        // snapshot's membership holds at its index and later changes are still known.
        let storage = c.storages[2]!
        try storage.createSnapshot(at: k2, membership: c[2].membership(atIndex: k2)!, data: [])
        c.restart(2)
        #expect(c[2].membership(atIndex: k1) == nil)
        #expect(c[2].membership(atIndex: k2) == four)
        #expect(c[2].membership(atIndex: k3 - 1) == four)
        #expect(c[2].membership(atIndex: k3) == final)
        #expect(c[2].membership == final)
    }
}
