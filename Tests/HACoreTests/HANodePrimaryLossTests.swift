import Testing
@testable import HACore

/// A leader that cannot keep its primary (a lease that keeps lapsing on a slow or lossy link,
/// a Postgres that keeps crashing) hands leadership over instead of restarting in place again
/// and again; found by the netns fault suite's `netem-primary` fault (issue 12).
@Suite struct HANodePrimaryLossTests {
    static let cluster = Fx.cluster(members: Fx.members(Fx.primary("a", timeline: 2), Fx.member("b", lsn: 900), Fx.member("c", lsn: 950)),
                                    history: Fx.history(2, newPrimary: "a"))
    static let running = Fx.runningPrimary(timeline: 2)
    static let stopped = Fx.stoppedFormerPrimary(timeline: 2)
    static let fence = HAAction.fence(reason: "leader without a valid lease")

    static func input(_ local: LocalPostgres, at ms: UInt64, lease: Bool = true, cluster: ClusterView = Self.cluster) -> HAInput {
        Fx.leader(now: Fx.now + ms, lease: lease, cluster: cluster, local: local)
    }

    /// The actions that decide what runs (slots, history rows and campaign flags left out).
    static func decisive(_ node: inout HANode, _ input: HAInput) -> [HAAction] {
        node.decide(input).filter {
            switch $0 {
            case .fence, .startPrimary, .transferLeadership, .wait: return true
            default: return false
            }
        }
    }

    /// Its followers still hear its heartbeats, so none would start an election: a leader
    /// whose lease lapsed under its running primary hands leadership over at once.
    @Test func aLeaseThatLapsesUnderThePrimaryHandsOver() {
        var node = HANode()
        #expect(Self.decisive(&node, Self.input(Self.running, at: 0)) == [])
        #expect(Self.decisive(&node, Self.input(Self.running, at: 100, lease: false)) == [Self.fence])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 200, lease: false))
                == [.transferLeadership(to: "c", raftID: 3, reason: "the leader has been without its lease for 100 ms")])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 3_199, lease: false)) == [.wait(reason: "handing leadership to c")])
        // the transfer did not complete within transfer_timeout: it waits for its lease, then restarts in place
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 3_200, lease: false))
                == [.wait(reason: "leader, waiting for a quorum-renewed lease")])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 3_300)) == [.startPrimary])
    }

    /// The lease is back by the next decision (the executor's timer fenced the primary): the
    /// lapse still hands over, rather than restarting a primary whose link keeps failing.
    @Test func aLeaseBackByTheNextDecisionStillHandsOver() {
        var node = HANode()
        _ = node.decide(Self.input(Self.running, at: 0))
        #expect(Self.decisive(&node, Self.input(Self.running, at: 100, lease: false)) == [Self.fence])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 500))
                == [.transferLeadership(to: "c", raftID: 3, reason: "its primary was fenced when its lease lapsed 400 ms ago")])
    }

    /// In synchronous modes only the claim's members qualify: with nobody to take over, the
    /// leader restarts in place.
    @Test func aLapseWithNoQualifiedReplicaRestartsInPlace() {
        var node = HANode()
        var onMode = Self.cluster
        onMode.config.synchronousMode = .on
        onMode.sync = SyncState(leader: "a", members: [], quorum: 0)
        _ = node.decide(Self.input(Self.running, at: 0, cluster: onMode))
        #expect(Self.decisive(&node, Self.input(Self.running, at: 100, lease: false, cluster: onMode)) == [Self.fence])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 500, cluster: onMode)) == [.startPrimary])
    }

    @Test func aPostgresThatCrashesAgainAfterARestartInPlaceIsHandedOver() {
        var node = HANode()
        _ = node.decide(Self.input(Self.running, at: 0))
        #expect(Self.decisive(&node, Self.input(Fx.crashedPrimary(timeline: 2, at: Fx.now + 900), at: 1_000)) == [.startPrimary])
        _ = node.decide(Self.input(Self.running, at: 2_000))
        #expect(Self.decisive(&node, Self.input(Fx.crashedPrimary(timeline: 2, at: Fx.now + 20_000), at: 20_100)).first?.isTransfer == true)
    }

    @Test func aLossOutsideTheWindowIsRestartedInPlaceAgain() {
        var node = HANode()
        _ = node.decide(Self.input(Self.running, at: 0))
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 1_000)) == [.startPrimary])
        _ = node.decide(Self.input(Self.running, at: 2_000))
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 1_000 + HANode.primaryLossWindowMs)) == [.startPrimary])
    }

    /// A restart that never came up is not a loss: the primary_start_timeout rule handles it.
    @Test func aRestartThatNeverRanIsNotCountedAsALoss() {
        var node = HANode()
        _ = node.decide(Self.input(Self.running, at: 0))
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 1_000)) == [.startPrimary])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 1_500)) == [.startPrimary])
    }

    @Test func withNobodyToHandOverToItRestartsInPlace() {
        var node = HANode()
        var lonely = Self.cluster
        lonely.members = Fx.members(Fx.primary("a", timeline: 2))
        _ = node.decide(Self.input(Self.running, at: 0, cluster: lonely))
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 1_000, cluster: lonely)) == [.startPrimary])
        _ = node.decide(Self.input(Self.running, at: 2_000, cluster: lonely))
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 3_000, cluster: lonely)) == [.startPrimary])
    }

    /// A leader that held its lease but never ran its primary in this term (its Postgres is a
    /// standby) hands over after `leaselessHandOverMs` without it.
    @Test func aLeaderLongWithoutItsLeaseHandsOver() {
        var node = HANode()
        let standby = Fx.runningReplica(following: nil, timeline: 2)
        _ = node.decide(Self.input(standby, at: 0))
        #expect(Self.decisive(&node, Self.input(standby, at: 100, lease: false)) == [.wait(reason: "leader, waiting for a quorum-renewed lease")])
        #expect(Self.decisive(&node, Self.input(standby, at: 2_099, lease: false)) == [.wait(reason: "leader, waiting for a quorum-renewed lease")])
        #expect(Self.decisive(&node, Self.input(standby, at: 2_100, lease: false))
                == [.transferLeadership(to: "c", raftID: 3, reason: "the leader has been without its lease for 2000 ms")])
    }

    /// A new leader waits for its first lease as before: it never held one in this term.
    @Test func aNewLeaderWithoutItsFirstLeaseWaits() {
        var node = HANode()
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 0, lease: false)) == [.wait(reason: "leader, waiting for a quorum-renewed lease")])
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 60_000, lease: false))
                == [.wait(reason: "leader, waiting for a quorum-renewed lease")])
    }

    @Test func aNewTermForgetsTheLosses() {
        var node = HANode()
        _ = node.decide(Self.input(Self.running, at: 0))
        #expect(Self.decisive(&node, Self.input(Self.stopped, at: 1_000)) == [.startPrimary])
        _ = node.decide(Self.input(Self.running, at: 2_000))
        var next = Self.input(Self.stopped, at: 3_000)
        next.raft.term += 1
        #expect(Self.decisive(&node, next) == [.startPrimary])
    }
}
