@testable import RaftSim
import Testing

// MARK: - Small vocabulary for hand-written histories

private func put(_ key: String, _ value: String) -> KVInput { .put(key: key, value: value) }
private func get(_ key: String) -> KVInput { .get(key: key) }
private func cas(_ key: String, _ expected: String?, _ new: String) -> KVInput {
    .compareAndSet(key: key, expected: expected, new: new)
}

/// A completed operation of `client` over `[invoked, completed]`.
private func done(_ client: Int, _ input: KVInput, _ invoked: UInt64, _ completed: UInt64,
                  _ observation: KVObservation) -> KVOperation {
    KVOperation(clientID: client, input: input, invokedAt: invoked, output: .ok(observation), completedAt: completed)
}

/// An operation of `client` invoked at `invoked` whose outcome the client never learned.
private func lost(_ client: Int, _ input: KVInput, _ invoked: UInt64) -> KVOperation {
    KVOperation(clientID: client, input: input, invokedAt: invoked, output: .unknown)
}

private let succeeded = KVObservation.compareAndSet(succeeded: true)
private let failed = KVObservation.compareAndSet(succeeded: false)

private func check(_ operations: [KVOperation], _ checker: LinearizabilityChecker = LinearizabilityChecker())
    -> LinearizabilityResult {
    checker.check(KVHistory(operations))
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, deterministic.
private struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `0 ..< bound` (bound > 0; modulo bias is irrelevant here).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

// MARK: - Hand-written histories

@Suite("Linearizability checker")
struct LinearizabilityCheckerTests {
    @Test func emptyHistoryIsLinearizable() {
        #expect(check([]) == .linearizable)
    }

    @Test func sequentialPutsAndGets() {
        let result = check([
            done(1, get("x"), 0, 5, .get(nil)),
            done(1, put("x", "a"), 10, 20, .put),
            done(2, get("x"), 30, 40, .get("a")),
            done(1, put("x", "b"), 50, 60, .put),
            done(2, get("x"), 70, 80, .get("b")),
            done(3, get("y"), 90, 95, .get(nil)),
        ])
        #expect(result == .linearizable)
    }

    @Test(arguments: ["a", "b"])
    func concurrentPutsThenReadSeesEither(value: String) {
        let result = check([
            done(1, put("x", "a"), 0, 100, .put),
            done(2, put("x", "b"), 10, 90, .put),
            done(3, get("x"), 120, 130, .get(value)),
            done(3, get("x"), 140, 150, .get(value)),
        ])
        #expect(result == .linearizable)
    }

    @Test func readDuringConcurrentPutsMaySeeAbsentOrEither() {
        for observed: String? in [nil, "a", "b"] {
            let result = check([
                done(1, put("x", "a"), 0, 100, .put),
                done(2, put("x", "b"), 10, 90, .put),
                done(3, get("x"), 20, 30, .get(observed)),
            ])
            #expect(result == .linearizable, "observed \(String(describing: observed))")
        }
    }

    @Test func readsAfterConcurrentPutsMustAgree() {
        let result = check([
            done(1, put("x", "a"), 0, 100, .put),
            done(2, put("x", "b"), 10, 90, .put),
            done(3, get("x"), 120, 130, .get("a")),
            done(4, get("x"), 140, 150, .get("b")),
        ])
        #expect(result.violatingKey == "x")
    }

    @Test func staleReadAfterCompletedPutIsRejected() {
        let result = check([
            done(1, put("x", "a"), 0, 10, .put),
            done(1, put("x", "b"), 20, 30, .put),
            done(2, get("x"), 40, 50, .get("a")),
        ])
        guard case .notLinearizable(let key, let explanation) = result else {
            Issue.record("expected a violation, got \(result)")
            return
        }
        #expect(key == "x")
        #expect(explanation.contains("#2"))
        #expect(explanation.contains("get(\"x\") → \"a\""))
    }

    @Test func readOfValueNeverWrittenIsRejected() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            done(2, get("x"), 5, 15, .get("ghost")),
        ]).violatingKey == "x")
    }

    @Test func readOfAbsentAfterCompletedPutIsRejected() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            done(2, get("x"), 11, 15, .get(nil)),
        ]).violatingKey == "x")
    }

    @Test func operationsTouchingAtATickAreConcurrent() {
        // The put completes at tick 10 and the get is invoked at tick 10: not ordered.
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            done(2, get("x"), 10, 15, .get(nil)),
        ]) == .linearizable)
    }

    @Test func lostUpdateByTwoSuccessfulCompareAndSetsIsRejected() {
        let result = check([
            done(1, put("counter", "0"), 0, 10, .put),
            done(1, cas("counter", "0", "1"), 20, 40, succeeded),
            done(2, cas("counter", "0", "1'"), 25, 45, succeeded),
        ])
        #expect(result.violatingKey == "counter")
    }

    @Test func competingCompareAndSetsWithOneWinnerAreLinearizable() {
        #expect(check([
            done(1, put("counter", "0"), 0, 10, .put),
            done(1, cas("counter", "0", "1"), 20, 40, succeeded),
            done(2, cas("counter", "0", "1'"), 25, 45, failed),
            done(2, get("counter"), 50, 60, .get("1")),
        ]) == .linearizable)
    }

    @Test func compareAndSetChainLinearizableInExactlyOneOrder() {
        // All overlap; recorded out of order. Only nil→a, a→b, b→c works.
        #expect(check([
            done(3, cas("x", "b", "c"), 20, 80, succeeded),
            done(2, cas("x", "a", "b"), 10, 90, succeeded),
            done(1, cas("x", nil, "a"), 0, 100, succeeded),
            done(4, get("x"), 110, 120, .get("c")),
        ]) == .linearizable)
    }

    @Test func compareAndSetChainAgainstRealTimeIsRejected() {
        // b→c succeeded and completed before nil→a was even invoked.
        #expect(check([
            done(2, cas("x", "a", "b"), 0, 50, succeeded),
            done(3, cas("x", "b", "c"), 1, 5, succeeded),
            done(1, cas("x", nil, "a"), 10, 100, succeeded),
        ]).violatingKey == "x")
    }

    @Test func compareAndSetChainWithWrongFinalReadIsRejected() {
        #expect(check([
            done(3, cas("x", "b", "c"), 20, 80, succeeded),
            done(2, cas("x", "a", "b"), 10, 90, succeeded),
            done(1, cas("x", nil, "a"), 0, 100, succeeded),
            done(4, get("x"), 110, 120, .get("b")),
        ]).violatingKey == "x")
    }

    // MARK: Unknown outcomes

    @Test func unknownPutObservedLaterIsLinearizable() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            lost(2, put("x", "b"), 20),
            done(3, get("x"), 30, 40, .get("a")),   // not yet applied
            done(3, get("x"), 100, 110, .get("b")), // applied long after the client gave up
            done(3, get("x"), 120, 130, .get("b")),
        ]) == .linearizable)
    }

    @Test func unknownPutNeverObservedIsLinearizable() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            lost(2, put("x", "b"), 20),
            done(3, get("x"), 30, 40, .get("a")),
            done(3, get("x"), 100, 110, .get("a")),
        ]) == .linearizable)
    }

    @Test func unknownPutCannotBeUndoneOnceObserved() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            lost(2, put("x", "b"), 20),
            done(3, get("x"), 30, 40, .get("b")),
            done(3, get("x"), 50, 60, .get("a")),
        ]).violatingKey == "x")
    }

    @Test func unknownPutObservedBeforeItsInvocationIsRejected() {
        let result = check([
            done(1, get("x"), 0, 10, .get("b")),
            lost(2, put("x", "b"), 20),
        ])
        #expect(result.violatingKey == "x")
    }

    @Test func unknownCompareAndSetMayApplyOrNot() {
        let prefix = [done(1, put("x", "a"), 0, 10, .put), lost(2, cas("x", "a", "b"), 20)]
        #expect(check(prefix + [done(3, get("x"), 30, 40, .get("b"))]) == .linearizable)
        #expect(check(prefix + [done(3, get("x"), 30, 40, .get("a"))]) == .linearizable)
        #expect(check(prefix + [done(3, get("x"), 30, 40, .get("a")),
                                done(3, get("x"), 50, 60, .get("b"))]) == .linearizable)
        #expect(check(prefix + [done(3, get("x"), 30, 40, .get("b")),
                                done(3, get("x"), 50, 60, .get("a"))]).violatingKey == "x")
    }

    @Test func unknownCompareAndSetCannotApplyWhenExpectationNeverHolds() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            lost(2, cas("x", "zzz", "b"), 20),
            done(3, get("x"), 30, 40, .get("b")),
        ]).violatingKey == "x")
    }

    /// An unknown write whose value nobody reads still matters when a failed
    /// compare-and-set needs the register to differ from its expectation.
    @Test func unreadUnknownWriteCanExplainFailedCompareAndSet() {
        let base = [done(1, put("x", "a"), 0, 10, .put)]
        let failedCAS = done(3, cas("x", "a", "q"), 30, 40, failed)
        #expect(check(base + [failedCAS]).violatingKey == "x")
        #expect(check(base + [lost(2, cas("x", "a", "z"), 20), failedCAS]) == .linearizable)
        #expect(check(base + [lost(2, put("x", "z"), 20), failedCAS]) == .linearizable)
        // …but not when the unknown write was invoked after the failure completed.
        #expect(check(base + [failedCAS, lost(2, put("x", "z"), 41)]).violatingKey == "x")
    }

    @Test func unknownGetsArePending() {
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            lost(2, get("x"), 20),
            KVOperation(clientID: 3, input: get("x"), invokedAt: 25),   // still pending
            done(3, get("x"), 30, 40, .get("a")),
        ]) == .linearizable)
    }

    @Test func manyUnknownWritesStayTractable() {
        // 40 unknown puts, all concurrent with everything after them, with some observed.
        var operations = [done(0, put("x", "init"), 0, 1, .put)]
        for i in 0 ..< 40 { operations.append(lost(1 + i % 4, put("x", "v\(i)"), 2 + UInt64(i))) }
        operations.append(done(9, get("x"), 100, 110, .get("v7")))
        operations.append(done(9, get("x"), 120, 130, .get("v31")))
        operations.append(done(9, get("x"), 140, 150, .get("v31")))
        #expect(check(operations) == .linearizable)
        operations.append(done(9, get("x"), 160, 170, .get("v7")))
        #expect(check(operations).violatingKey == "x")
    }

    // MARK: Per-key independence

    @Test func violationOnOneKeyAmongManyIsNamed() {
        var operations: [KVOperation] = []
        var tick: UInt64 = 0
        for round in 0 ..< 5 {
            for k in 0 ..< 12 {
                let key = "k\(k)"
                operations.append(done(k % 5, put(key, "r\(round)"), tick, tick + 10, .put))
                let observed = (k == 7 && round == 3) ? "r1" : "r\(round)"
                operations.append(done((k + 1) % 5, get(key), tick + 5, tick + 20, .get(observed)))
                tick += 3
            }
        }
        guard case .notLinearizable(let key, let explanation) = check(operations) else {
            Issue.record("expected a violation")
            return
        }
        #expect(key == "k7")
        #expect(explanation.contains("\"k7\""))
        #expect(!explanation.contains("\"k6\""))
    }

    @Test func keysAreIndependent() {
        // Per key each history is fine; mixing keys must not constrain anything.
        #expect(check([
            done(1, put("x", "a"), 0, 10, .put),
            done(2, put("y", "a"), 0, 10, .put),
            done(1, get("y"), 20, 30, .get("a")),
            done(2, get("x"), 20, 30, .get("a")),
            done(3, get("z"), 20, 30, .get(nil)),
        ]) == .linearizable)
    }

    // MARK: The classic register example (Porcupine README / Knossos)

    /// ```
    /// C0: |-------- put(100) --------|
    /// C1:     |--- get() → 100 ---|
    /// C2:       |- get() → 0 -|
    /// ```
    /// With the initial value 0 (modelled as absent), both reads fit inside the put.
    @Test func porcupineRegisterExampleLinearizable() {
        #expect(check([
            done(0, put("r", "100"), 0, 100, .put),
            done(1, get("r"), 25, 75, .get("100")),
            done(2, get("r"), 30, 60, .get(nil)),
        ]) == .linearizable)
    }

    /// ```
    /// C0: |------------- put(200) -------------|
    /// C1:   |- get() → 200 -|
    /// C2:                      |- get() → 0 -|
    /// ```
    /// Once a read saw 200, a later read cannot see the initial value.
    @Test func porcupineRegisterExampleNotLinearizable() {
        #expect(check([
            done(0, put("r", "200"), 0, 100, .put),
            done(1, get("r"), 10, 30, .get("200")),
            done(2, get("r"), 40, 90, .get(nil)),
        ]).violatingKey == "r")
    }

    // MARK: Explanations and budgets

    @Test func explanationNamesShortestFailingPrefix() {
        var operations = [
            done(1, put("x", "a"), 0, 10, .put),
            done(1, put("x", "b"), 20, 30, .put),
            done(2, get("x"), 40, 50, .get("a")),   // #2: the violation
        ]
        for i in 0 ..< 20 {
            let t = 100 + 20 * UInt64(i)
            operations.append(done(1, put("x", "late\(i)"), t, t + 5, .put))
        }
        guard case .notLinearizable(_, let explanation) = check(operations) else {
            Issue.record("expected a violation")
            return
        }
        #expect(explanation.contains("up to tick 50, when #2 completed; its 3 operations"))
        #expect(explanation.contains("#2 client 2 [40, 50] get(\"x\") → \"a\"   ◀"))
        #expect(!explanation.contains("late"))
        #expect(explanation.contains("#0 put(\"x\", \"a\") → ok; #1 put(\"x\", \"b\") → ok"))
    }

    @Test func stateBudgetYieldsUnknown() {
        let history = RegisterSimulation(seed: 7, operations: 400, keys: ["x"], clients: 5).history
        let result = LinearizabilityChecker(maxStatesPerKey: 10).check(history)
        guard case .unknown(let reason) = result else {
            Issue.record("expected unknown, got \(result)")
            return
        }
        #expect(reason.contains("\"x\""))
        #expect(reason.contains("maxStatesPerKey = 10"))
    }

    @Test func timeBudgetYieldsUnknown() {
        let history = RegisterSimulation(seed: 8, operations: 2_000, keys: ["x"], clients: 5).history
        let result = LinearizabilityChecker(timeLimit: .zero).check(history)
        guard case .unknown(let reason) = result else {
            Issue.record("expected unknown, got \(result)")
            return
        }
        #expect(reason.contains("time limit"))
    }

    // MARK: The memo's bitset

    @Test func bitsetBeyond64MembersHashesByContent() {
        var forward = OperationBitset(capacity: 200)
        var backward = OperationBitset(capacity: 200)
        let members = [0, 1, 63, 64, 65, 127, 128, 150, 199]
        for member in members { forward.insert(member) }
        for member in members.reversed() { backward.insert(member) }
        backward.insert(100)
        #expect(forward != backward)
        backward.remove(100)
        #expect(forward == backward)
        #expect(forward.hashValue == backward.hashValue)
        #expect(forward.fingerprint == backward.fingerprint)
        #expect(members.allSatisfy { forward.contains($0) })
        #expect(!forward.contains(2) && !forward.contains(198))
        forward.insert(64)  // already present: no change
        #expect(forward == backward)
        for member in members { forward.remove(member) }
        #expect(forward == OperationBitset(capacity: 200))
        #expect(forward.fingerprint == 0)
        #expect(Set([forward, backward, OperationBitset(capacity: 200)]).count == 2)
    }

    // MARK: Incremental recording

    @Test func historyRecordsIncrementallyAndFinishMarksPendingUnknown() {
        var history = KVHistory()
        let first = history.invoke(client: 1, input: put("x", "a"), at: 0)
        let second = history.invoke(client: 2, input: put("x", "b"), at: 5)
        let read = history.invoke(client: 3, input: get("x"), at: 6)
        history.complete(first, output: .ok(.put), at: 10)
        history.complete(read, output: .ok(.get("b")), at: 20)
        #expect(history.pending == [second])
        #expect(history[second].output == nil)
        history.finish(at: 30)
        #expect(history.pending.isEmpty)
        #expect(history[second].output == .unknown)
        #expect(history[second].completedAt == nil)
        #expect(history.finishedAt == 30)
        #expect(history.count == 3)
        #expect(LinearizabilityChecker().check(history) == .linearizable)
        #expect(history.description.contains("#1 client 2 [5, ∞] put(\"x\", \"b\") → unknown"))
    }

    // MARK: Generated histories

    @Test func generatedSingleKeyHistoryOf2000OperationsIsLinearizableAndCorruptionIsFound() {
        let simulation = RegisterSimulation(seed: 42, operations: 2_000, keys: ["x"], clients: 5)
        #expect(simulation.history.count == 2_000)
        #expect(simulation.unknownCount > 20)

        let clock = ContinuousClock()
        var result = LinearizabilityResult.linearizable
        let elapsed = clock.measure { result = LinearizabilityChecker().check(simulation.history) }
        print("2,000-op single-key history (\(simulation.unknownCount) unknown outcomes): \(result), checked in \(elapsed)")
        #expect(result == .linearizable)

        let (stale, victim) = simulation.withStaleRead()
        var staleResult = LinearizabilityResult.linearizable
        let staleElapsed = clock.measure { staleResult = LinearizabilityChecker().check(stale) }
        print("same history with one stale read at \(victim): violation found in \(staleElapsed)")
        guard case .notLinearizable(let key, let explanation) = staleResult else {
            Issue.record("stale read not detected: \(staleResult)")
            return
        }
        #expect(key == "x")
        #expect(explanation.contains("\(victim) client"))
        #expect(explanation.contains("when \(victim) completed"))
        print(explanation.split(separator: "\n").prefix(3).joined(separator: "\n"))

        // A read of a value written only by a put invoked after the read completed: no value
        // runs out, so the search has to exhaust every configuration before that read.
        let (future, reader) = simulation.withFutureRead()
        var futureResult = LinearizabilityResult.linearizable
        let futureElapsed = clock.measure { futureResult = LinearizabilityChecker().check(future) }
        print("same history with one read from the future at \(reader): \(futureResult.violatingKey != nil ? "violation found" : "MISSED") in \(futureElapsed)")
        #expect(futureResult.violatingKey == "x")

        let ghost = simulation.withGhostRead()
        #expect(LinearizabilityChecker().check(ghost).violatingKey == "x")
    }

    @Test func generatedMultiKeyHistoryOf2000OperationsIsLinearizableAndCorruptionIsFound() {
        let keys = (0 ..< 10).map { "key\($0)" }
        let simulation = RegisterSimulation(seed: 2024, operations: 2_000, keys: keys, clients: 5)
        let clock = ContinuousClock()
        var result = LinearizabilityResult.linearizable
        let elapsed = clock.measure { result = LinearizabilityChecker().check(simulation.history) }
        print("2,000-op history over 10 keys (\(simulation.unknownCount) unknown outcomes): \(result), checked in \(elapsed)")
        #expect(result == .linearizable)

        let (stale, victim) = simulation.withStaleRead()
        let staleResult = LinearizabilityChecker().check(stale)
        #expect(staleResult.violatingKey == stale[victim].input.key)
    }

    @Test(arguments: 1 ... 6)
    func generatedHistoriesWithManySeedsAreLinearizable(seed: UInt64) {
        let simulation = RegisterSimulation(seed: seed, operations: 600, keys: ["a", "b"], clients: 5)
        #expect(LinearizabilityChecker().check(simulation.history) == .linearizable)
        let (stale, victim) = simulation.withStaleRead()
        #expect(LinearizabilityChecker().check(stale).violatingKey == stale[victim].input.key)
    }

    // MARK: Agreement with a brute-force oracle

    @Test func agreesWithBruteForceOnSmallRandomHistories() {
        var random = SplitMix64(state: 0xC0FFEE)
        var verdicts = (linearizable: 0, violations: 0)
        for round in 0 ..< 3_000 {
            var operations: [KVOperation] = []
            let count = 1 + random.below(7)
            for _ in 0 ..< count {
                let invoked = UInt64(random.below(12))
                let completed = invoked + 1 + UInt64(random.below(6))
                let client = random.below(4)
                let values: [String?] = [nil, "a", "b"]
                let input: KVInput
                let observation: KVObservation
                switch random.below(3) {
                case 0:
                    input = put("x", random.chance(50) ? "a" : "b")
                    observation = .put
                case 1:
                    input = get("x")
                    observation = .get(values[random.below(3)])
                default:
                    input = cas("x", values[random.below(3)], random.chance(50) ? "a" : "b")
                    observation = .compareAndSet(succeeded: random.chance(50))
                }
                if random.chance(25) {
                    operations.append(lost(client, input, invoked))
                } else {
                    operations.append(done(client, input, invoked, completed, observation))
                }
            }
            let expected = referenceIsLinearizable(operations)
            let result = check(operations)
            #expect(result.isLinearizable == expected,
                    "round \(round): oracle says \(expected), checker says \(result)\n\(KVHistory(operations))")
            if expected { verdicts.linearizable += 1 } else { verdicts.violations += 1 }
            if result.isLinearizable != expected { break }
        }
        // The generator must exercise both answers.
        #expect(verdicts.linearizable > 300 && verdicts.violations > 300)
    }

    /// Simulated runs of ~40 operations on one key with a small value pool and many timeouts
    /// (the hard case: reused values, operations that may or may not have taken effect), with
    /// one completed result randomized. Checked against the plain reference procedure.
    @Test func agreesWithReferenceOnMediumCorruptedHistories() {
        var random = SplitMix64(state: 0xBADC0DE)
        var verdicts = (linearizable: 0, violations: 0)
        for round in 0 ..< 300 {
            let simulation = RegisterSimulation(
                seed: random.next(), operations: 30 + random.below(20), keys: ["x"], clients: 1 + random.below(5),
                valuePool: 2 + random.below(4), unknownPercent: random.below(40))
            var operations = simulation.history.operations
            if random.chance(80) {
                let completed = operations.indices.filter { operations[$0].observation != nil }
                let index = completed[random.below(completed.count)]
                let original = operations[index]
                let observation: KVObservation
                switch original.input {
                case .put: observation = .put
                case .get: observation = .get(random.chance(20) ? nil : "v\(random.below(6))")
                case .compareAndSet: observation = .compareAndSet(succeeded: random.chance(50))
                }
                operations[index] = KVOperation(
                    clientID: original.clientID, input: original.input, invokedAt: original.invokedAt,
                    output: .ok(observation), completedAt: original.completedAt)
            }
            let expected = referenceIsLinearizable(operations)
            let result = check(operations)
            #expect(result.isLinearizable == expected,
                    "round \(round): reference says \(expected), checker says \(result)\n\(KVHistory(operations))")
            if result.isLinearizable != expected { break }
            if expected { verdicts.linearizable += 1 } else { verdicts.violations += 1 }
        }
        #expect(verdicts.linearizable > 50 && verdicts.violations > 50)
    }
}

// MARK: - Oracle

/// A deliberately plain decision procedure, sharing no code with the checker: depth-first over
/// "which operation takes effect next", memoized on (operations placed, value). An operation
/// may go next if no unplaced completed operation finished strictly before it was invoked;
/// unknown outcomes may be left out entirely; gets with unknown outcome are ignored; done when
/// every completed operation is placed. Single key, at most 64 relevant operations.
private func referenceIsLinearizable(_ all: [KVOperation]) -> Bool {
    let operations = all.filter { operation in
        if case .get = operation.input { return operation.observation != nil }
        return true
    }
    precondition(operations.count <= 64)
    var mustPlace: UInt64 = 0
    for (index, operation) in operations.enumerated() where operation.observation != nil {
        mustPlace |= 1 << UInt64(index)
    }
    struct Visit: Hashable { var placed: UInt64; var value: String? }
    var failed: Set<Visit> = []
    func search(_ placed: UInt64, _ value: String?) -> Bool {
        if placed & mustPlace == mustPlace { return true }
        if failed.contains(Visit(placed: placed, value: value)) { return false }
        for (i, candidate) in operations.enumerated() where placed & (1 << UInt64(i)) == 0 {
            let blocked = operations.indices.contains { j in
                placed & (1 << UInt64(j)) == 0 && operations[j].observation != nil
                    && operations[j].completedAt! < candidate.invokedAt
            }
            if blocked { continue }
            var next = value
            switch (candidate.input, candidate.observation) {
            case (.put(_, let written), _):
                next = written
            case (.get, .get(let read)?):
                if read != value { continue }
            case (.compareAndSet(_, let expected, let new), .compareAndSet(let succeeded)?):
                if succeeded != (value == expected) { continue }
                if succeeded { next = new }
            case (.compareAndSet(_, let expected, let new), nil):
                if value == expected { next = new }
            default:
                Issue.record("unexpected operation \(candidate)")
                return false
            }
            if search(placed | (1 << UInt64(i)), next) { return true }
        }
        failed.insert(Visit(placed: placed, value: value))
        return false
    }
    return search(0, nil)
}

// MARK: - Generator

/// A run of clients against a real atomic register store: each operation takes effect at one
/// instant strictly inside its recorded interval, so the history is linearizable by
/// construction. Some operations time out (outcome unknown); those take effect before the
/// timeout, long after it, or never.
private struct RegisterSimulation {
    private(set) var history = KVHistory()
    private(set) var unknownCount = 0

    init(seed: UInt64, operations target: Int, keys: [String], clients: Int,
         valuePool: Int? = nil, unknownPercent: Int = 4) {
        var random = SplitMix64(state: seed)
        var store: [String: String] = [:]
        var nextStart = Array(repeating: UInt64(0), count: clients)
        var busy = Array(repeating: false, count: clients)
        /// (tick, operation, its client's completion tick, timed out)
        var effects: [(at: UInt64, id: OperationID)] = []
        var completions: [(at: UInt64, id: OperationID, timedOut: Bool)] = []
        var observations: [OperationID: KVObservation] = [:]
        var written = 0
        var tick: UInt64 = 0
        while history.count < target || !effects.isEmpty || !completions.isEmpty {
            // 1. Operations taking effect now, in a fixed order.
            for effect in effects.filter({ $0.at == tick }).sorted(by: { $0.id < $1.id }) {
                switch history[effect.id].input {
                case .put(let key, let value):
                    store[key] = value
                    observations[effect.id] = .put
                case .get(let key):
                    observations[effect.id] = .get(store[key])
                case .compareAndSet(let key, let expected, let new):
                    let swapped = store[key] == expected
                    if swapped { store[key] = new }
                    observations[effect.id] = .compareAndSet(succeeded: swapped)
                }
            }
            effects.removeAll { $0.at == tick }
            // 2. Clients receiving answers or giving up.
            for completion in completions.filter({ $0.at == tick }).sorted(by: { $0.id < $1.id }) {
                let operation = history[completion.id]
                history.complete(completion.id, output: completion.timedOut ? .unknown : .ok(observations[completion.id]!),
                                 at: tick)
                busy[operation.clientID] = false
                nextStart[operation.clientID] = tick + UInt64(random.below(4))
            }
            completions.removeAll { $0.at == tick }
            // 3. Idle clients sending requests.
            for client in 0 ..< clients where !busy[client] && nextStart[client] <= tick && history.count < target {
                let key = keys[random.below(keys.count)]
                let input: KVInput
                switch random.below(10) {
                case 0 ..< 4:
                    written += 1
                    input = .put(key: key, value: "v\(valuePool.map { random.below($0) } ?? written)")
                case 4 ..< 8:
                    input = .get(key: key)
                default:
                    written += 1
                    let expected = random.chance(70) ? store[key] : "v\(max(1, written - 1 - random.below(5)))"
                    input = .compareAndSet(key: key, expected: expected, new: "v\(valuePool.map { random.below($0) } ?? written)")
                }
                let id = history.invoke(client: client, input: input, at: tick)
                busy[client] = true
                let effectAt = tick + 1 + UInt64(random.below(8))
                let completedAt = effectAt + 1 + UInt64(random.below(8))
                if random.chance(unknownPercent) {
                    unknownCount += 1
                    completions.append((completedAt, id, true))
                    switch random.below(3) {
                    case 0: effects.append((effectAt, id))
                    case 1: effects.append((completedAt + 1 + UInt64(random.below(60)), id))
                    default: break
                    }
                } else {
                    effects.append((effectAt, id))
                    completions.append((completedAt, id, false))
                }
            }
            tick += 1
        }
        history.finish(at: tick)
    }

    /// The history with one completed get changed to return a value that was certainly
    /// overwritten before the get was invoked: a value written by an acknowledged put that
    /// completed, followed by another acknowledged write invoked after it and completed before
    /// the get started. Values are unique, so no linearization can explain it.
    func withStaleRead() -> (KVHistory, OperationID) {
        var operations = history.operations
        let acknowledgedWrites = operations.indices.filter { index in
            switch (operations[index].input, operations[index].observation) {
            case (.put, .put?), (.compareAndSet, .compareAndSet(true)?): return true
            default: return false
            }
        }
        for index in operations.indices.reversed().dropFirst(operations.count / 3) {
            guard case .get(let key) = operations[index].input, case .get(let observed)? = operations[index].observation
            else { continue }
            let invokedAt = operations[index].invokedAt
            let candidates = acknowledgedWrites.filter { operations[$0].input.key == key }
            for old in candidates {
                let stale: String
                switch operations[old].input {
                case .put(_, let value), .compareAndSet(_, _, let value): stale = value
                case .get: continue
                }
                guard stale != observed, operations[old].completedAt! < invokedAt else { continue }
                let overwritten = candidates.contains { newer in
                    operations[newer].invokedAt > operations[old].completedAt!
                        && operations[newer].completedAt! < invokedAt
                }
                guard overwritten else { continue }
                let original = operations[index]
                operations[index] = KVOperation(
                    clientID: original.clientID, input: original.input, invokedAt: original.invokedAt,
                    output: .ok(.get(stale)), completedAt: original.completedAt)
                return (KVHistory(operations), OperationID(rawValue: index))
            }
        }
        fatalError("no read to corrupt")
    }

    /// The history with a completed get from the middle changed to return the value of a put
    /// invoked after the get completed. Values are unique, so no linearization can explain it.
    func withFutureRead() -> (KVHistory, OperationID) {
        var operations = history.operations
        for index in operations.indices.dropFirst(operations.count / 2) {
            guard case .get(let key) = operations[index].input, operations[index].observation != nil else { continue }
            let completedAt = operations[index].completedAt!
            let later = operations.first { operation in
                guard case .put(key, _) = operation.input else { return false }
                return operation.invokedAt > completedAt
            }
            guard let later, case .put(_, let value) = later.input else { continue }
            let original = operations[index]
            operations[index] = KVOperation(
                clientID: original.clientID, input: original.input, invokedAt: original.invokedAt,
                output: .ok(.get(value)), completedAt: original.completedAt)
            return (KVHistory(operations), OperationID(rawValue: index))
        }
        fatalError("no read to corrupt")
    }

    /// The history with the last completed get changed to return a value never written.
    func withGhostRead() -> KVHistory {
        var operations = history.operations
        let index = operations.indices.last { index in
            if case .get = operations[index].input, operations[index].observation != nil { return true }
            return false
        }!
        let original = operations[index]
        operations[index] = KVOperation(
            clientID: original.clientID, input: original.input, invokedAt: original.invokedAt,
            output: .ok(.get("never written")), completedAt: original.completedAt)
        return KVHistory(operations)
    }
}
