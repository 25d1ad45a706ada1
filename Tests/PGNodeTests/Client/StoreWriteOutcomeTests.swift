import NIOConcurrencyHelpers
import NIOPosix
import Testing
@testable import PGNode
import RaftCore

/// A write reports `outcomeUnknown` whenever it may have been applied, and `notApplied` only
/// when an answer proves it was not.
@Suite struct StoreWriteOutcomeTests {
    @Test func outcomeUnknownRoundTripsOnTheWire() throws {
        let response = ClientResponse(id: 7, outcome: .outcomeUnknown(reason: "the node stopped"))
        #expect(try ClientCodec.decodeResponse(ClientCodec.encode(response)) == response)
    }

    /// The server: a runtime's timeout or stop for a write may come after proposing.
    @Test func serverAnswersTimeoutAndStopOfAWriteAsUnknown() {
        for e in [StoreError.timeout, .stopped] {
            guard case .outcomeUnknown = RaftRuntime.writeFailure(e) else {
                Issue.record("\(e) must be an unknown outcome")
                continue
            }
        }
        for e in [StoreError.notLeader(leader: 2), .revisionMismatch(current: 4), .notFound, .invalidRequest("x"),
                  .unavailable("overloaded")] {
            #expect(RaftRuntime.writeFailure(e) == .failed(e))
        }
    }

    /// The runtime's `.stopped` does not say whether the write was proposed first, so even a
    /// node stopped before the request is (conservatively) an unknown outcome.
    @Test func aStoppedRuntimeAnswersAWriteAsUnknown() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var raft = RaftConfig(id: 1)
        raft.randomSeed = 1
        let runtime = try RaftRuntime(config: RuntimeConfig(raft: raft, bootstrapMembership: Membership(voters: [1])),
                                      storage: MemoryStorage(), loop: group.next(), logger: .init(label: "t")) { _ in }
        try await runtime.start()
        await runtime.shutdown()
        let outcome = await runtime.serve(.put(key: "k", value: [1], expectedRevision: nil))
        #expect(outcome == .outcomeUnknown(reason: "the node stopped while the write was in progress"), "\(outcome)")
        try await group.shutdownGracefully()
    }

    /// The client, against scripted nodes.
    @Test func connectionClosedAfterAWriteWasSentIsUnknownAndNotRetried() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let received = NIOLockedValueBox(0)
        let node = try await ScriptedStoreNode(id: 1, group: group) { _ in
            received.withLockedValue { $0 += 1 }
            return .close
        }
        let client = makeTestClient([1: node.address], group: group)
        let error = await #expect(throws: StoreWriteError.self) { try await client.put("k", [1]) }
        #expect(error?.mayHaveBeenApplied == true, "\(String(describing: error))")
        #expect("\(error!)".contains("may or may not have been applied"))
        #expect(received.withLockedValue { $0 } == 1, "an unknown write is not sent again")
        await client.close()
        await node.close()
        try await group.shutdownGracefully()
    }

    @Test func nodeThatStoppedAfterProposingIsUnknown() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let node = try await ScriptedStoreNode(id: 1, group: group) { _ in
            .respond(.outcomeUnknown(reason: "the node stopped while the write was in progress"))
        }
        let client = makeTestClient([1: node.address], group: group)
        let error = await #expect(throws: StoreWriteError.self) { try await client.put("k", [1]) }
        guard case .outcomeUnknown(let reason)? = error else {
            Issue.record("expected outcomeUnknown, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("stopped"))
        await client.close()
        await node.close()
        try await group.shutdownGracefully()
    }

    @Test func definiteRefusalsAreNotAppliedAndAStoppedNodeIsRetriedElsewhere() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let mismatch = try await ScriptedStoreNode(id: 1, group: group) { _ in .respond(.failed(.revisionMismatch(current: 9))) }
        let client = makeTestClient([1: mismatch.address], group: group)
        let error = await #expect(throws: StoreWriteError.self) { try await client.put("k", [1], expectedRevision: 3) }
        #expect(error == .notApplied(.revisionMismatch(current: 9)))
        await client.close()

        // Node 1 is stopped (definite), node 2 applies it: the client moves on and succeeds.
        let stopped = try await ScriptedStoreNode(id: 1, group: group) { _ in .respond(.failed(.stopped)) }
        let live = try await ScriptedStoreNode(id: 2, group: group) { _ in .respond(.written(revision: 42)) }
        let both = makeTestClient([1: stopped.address, 2: live.address], group: group)
        #expect(try await both.put("k", [1]) == 42)
        await both.close()

        // Every node is stopped: not applied, after the request timeout.
        let alone = makeTestClient([1: stopped.address], group: group, requestTimeout: .milliseconds(300))
        let refused = await #expect(throws: StoreWriteError.self) { try await alone.put("k", [1]) }
        #expect(refused?.mayHaveBeenApplied == false, "\(String(describing: refused))")
        await alone.close()
        for n in [mismatch, stopped, live] { await n.close() }
        try await group.shutdownGracefully()
    }
}
