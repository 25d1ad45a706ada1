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

    @Test(arguments: seeds)
    func shapeOfEveryDecision(seed: UInt64) {
        var gen = HAInputGenerator(seed: seed)
        var node = HANode()
        var last: Bool?
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
            // A refusal ends the decision and forbids campaigning.
            if let r = actions.firstIndex(where: { $0.isRefuse }) {
                #expect(r == actions.count - 1, context)
                #expect(node.mayCampaign == false, context)
            }
            // A follower never hands over or gathers status; a leader never fences a standby.
            if !input.raft.isLeader {
                #expect(!actions.contains { $0.isTransfer }, context)
                #expect(!actions.contains { if case .gatherStatus = $0 { return true }; return false }, context)
            }
            // A decision never asks for two Postgres-changing steps at once (apart from fence + refuse).
            let steps = actions.filter { !$0.isSetMayCampaign && $0.waitReason == nil && !$0.isRefuse }
            #expect(steps.count <= 1, context)
            if let outcome = gen.outcome() { node.record(outcome) }
        }
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
