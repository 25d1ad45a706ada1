import Testing
@testable import HACore

/// Random runs of one `HANode` each (its memory carries across decisions), seeded so any
/// failure replays.
@Suite struct HANodePropertyTests {
    static let seeds: [UInt64] = [1, 2, 3, 42, 1_234, 99_991, 0xDEAD_BEEF, 0x5EED_0000_0001]
    static let steps = 4_000

    @Test(arguments: seeds)
    func writerActionsOnlyOnTheLeaderHoldingItsLease(seed: UInt64) {
        var gen = HAInputGenerator(seed: seed)
        var node = HANode()
        var writerActions = 0
        for step in 0..<Self.steps {
            let input = gen.next()
            let actions = node.decide(input)
            let writes = actions.filter { $0.isPromote || $0.isStartPrimary || $0.isBootstrap }
            writerActions += writes.count
            if !writes.isEmpty {
                #expect(input.raft.isLeader && input.holdsLease, "seed \(seed) step \(step): \(actions) for \(input)")
            }
            #expect(!(actions.contains { $0.isFence } && actions.contains { $0.isPromote }),
                    "seed \(seed) step \(step): \(actions)")
            if let outcome = gen.outcome() { node.record(outcome) }
        }
        // The generator does reach the interesting branches.
        #expect(writerActions > 0)
    }

    /// One writer: a Postgres that runs as a primary, or is being started as one, on a node that
    /// is not the leader holding its lease is fenced in the same decision; and nothing else is
    /// fenced except a postmaster on a refused data directory.
    @Test(arguments: seeds)
    func primariesWithoutTheLeaseAreFencedAndNothingElse(seed: UInt64) {
        var gen = HAInputGenerator(seed: seed)
        var node = HANode()
        var fences = 0, startingPrimariesFenced = 0
        for step in 0..<Self.steps {
            let input = gen.next()
            let actions = node.decide(input)
            let context = Comment(rawValue: "seed \(seed) step \(step): \(actions) for \(input.local)")
            let local = input.local
            let writable = local.mayAcceptWrites
            let fenced = actions.contains { $0.isFence }
            if writable && !input.holdsLease {
                #expect(fenced, context)
                if fenced && local.isStartingPrimary { startingPrimariesFenced += 1 }
            }
            if fenced {
                fences += 1
                let refused = actions.contains { $0.isRefuse }
                #expect(refused ? local.hasPostmaster : (writable && !input.holdsLease), context)
            }
            if let outcome = gen.outcome() { node.record(outcome) }
        }
        #expect(fences > 0)
        #expect(startingPrimariesFenced > 0)
    }

    @Test(arguments: seeds)
    func shapeOfEveryDecision(seed: UInt64) {
        var gen = HAInputGenerator(seed: seed)
        var node = HANode()
        var last: Bool?
        var refusalsHandingOver = 0
        for step in 0..<Self.steps {
            let input = gen.next()
            let actions = node.decide(input)
            let context = Comment(rawValue: "seed \(seed) step \(step): \(actions)")
            // setMayCampaign at most once, only on change, and first (after a fence at most).
            let campaigns = actions.enumerated().compactMap { i, a -> (Int, Bool)? in
                if case .setMayCampaign(let may, _) = a { return (i, may) }
                return nil
            }
            #expect(campaigns.count <= 1, context)
            if let (index, may) = campaigns.first {
                #expect(may != last, context)
                #expect(index == 0 || (index == 1 && actions[0].isFence), context)
                last = may
            }
            #expect(node.mayCampaign == last, context)
            // Campaigning needs tags that allow promotion.
            if last == true { #expect(input.tags.mayBePromoted, context) }
            // A refusal forbids campaigning and is the decision: [fence?, setMayCampaign(false)?,
            // refuse, transferLeadership?], the transfer only on the leader.
            if let r = actions.firstIndex(where: { $0.isRefuse }) {
                #expect(node.mayCampaign == false, context)
                #expect(actions.filter { $0.isRefuse }.count == 1, context)
                let before = actions[..<r].filter { !$0.isSetMayCampaign }
                let after = Array(actions[(r + 1)...])
                #expect(before.allSatisfy { $0.isFence } && before.count <= 1, context)
                #expect(after.isEmpty || (after.count == 1 && after[0].isTransfer && input.raft.isLeader), context)
                if !after.isEmpty { refusalsHandingOver += 1 }
            } else {
                // Otherwise a decision never asks for two Postgres-changing steps at once
                // (recording the primary's timeline in `history` is store bookkeeping beside them).
                let steps = actions.filter { !$0.isSetMayCampaign && $0.waitReason == nil && $0.name != "recordPromotion" }
                #expect(steps.count <= 1, context)
            }
            // A follower never hands over or gathers status.
            if !input.raft.isLeader {
                #expect(!actions.contains { $0.isTransfer }, context)
                #expect(!actions.contains { if case .gatherStatus = $0 { return true }; return false }, context)
            }
            for case .transferLeadership(let to, _, let reason) in actions {
                // Never to itself; a hand-over by the periodic reports (not a failover by the
                // status round) only to a Raft voter.
                #expect(to != input.me, context)
                if !reason.contains(" is the better primary (") {
                    #expect(input.raft.voters.isEmpty || input.raft.voters.values.contains(to), context)
                }
            }
            if let outcome = gen.outcome() { node.record(outcome) }
        }
        #expect(refusalsHandingOver > 0)
    }

    @Test(arguments: seeds.prefix(3))
    func deterministic(seed: UInt64) {
        var a = HAInputGenerator(seed: seed), b = HAInputGenerator(seed: seed)
        var n1 = HANode(), n2 = HANode()
        for _ in 0..<1_000 {
            let i1 = a.next(), i2 = b.next()
            #expect(i1 == i2)
            #expect(n1.decide(i1) == n2.decide(i2))
            #expect(n1 == n2)
            let o1 = a.outcome(), o2 = b.outcome()
            if let o1 { n1.record(o1) }
            if let o2 { n2.record(o2) }
        }
    }

    @Test func promotionOnlyOfAQualifiedSelf() {
        // Whenever it promotes, this node is a candidate by the round's answers (invariant 3:
        // never beyond maximum_lag_on_failover, never with nofailover).
        var gen = HAInputGenerator(seed: 777)
        var node = HANode()
        var promotions = 0
        for step in 0..<20_000 {
            let input = gen.next()
            let actions = node.decide(input)
            if actions.contains(where: { $0.isPromote }) {
                promotions += 1
                let round = input.statusRound
                #expect(round?.term == input.raft.term, "step \(step)")
                let placement = Placement(statuses: Array(round?.statuses.values ?? [:].values), cluster: input.cluster)
                #expect(placement.qualifies(input.me), "step \(step): \(actions)")
                #expect(input.local.isRunningReplica, "step \(step)")
            }
            if let outcome = gen.outcome() { node.record(outcome) }
        }
        #expect(promotions > 0)
    }
}
