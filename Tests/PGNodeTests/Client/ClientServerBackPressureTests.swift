import Logging
import NIOPosix
import Testing
@testable import PGNode
import RaftCore

/// One connection pipelining far more requests than the per-connection bound.
@Suite struct ClientServerBackPressureTests {
    @Test func pipeliningFarPastTheBoundGetsEveryAnswerWithBoundedRequestsInFlight() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var raft = RaftConfig(id: 1)
        raft.randomSeed = 1
        var config = RuntimeConfig(raft: raft, bootstrapMembership: Membership(voters: [1]))
        config.tickInterval = .milliseconds(10)
        config.requestTimeout = .seconds(20)
        let quiet = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        let runtime = try RaftRuntime(config: config, storage: MemoryStorage(), loop: group.next(), logger: quiet) { _ in }
        try await runtime.start()
        let bound = 16
        let server = ClientServer(runtime: runtime, clusterName: "client-test", secret: clientTestSecret, group: group,
                                  logger: quiet, maxRequestsInFlight: bound)
        let port = try await server.start(host: "127.0.0.1", port: 0)
        let deadline = ContinuousClock.now + .seconds(5)
        while await runtime.leaderLease() == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }

        let handshake = Handshake.Configuration(clusterName: "client-test", localID: Handshake.clientID, secret: clientTestSecret,
                                                knownPeers: [1], expectedPeer: 1)
        let connection = try await ClientConnection.connect(to: PeerAddress(host: "127.0.0.1", port: port), handshake: handshake,
                                                            group: group, logger: quiet, timeout: .seconds(2))
        let total = 3_000
        let answers = await withTaskGroup(of: ClientResponse?.self) { tasks in
            for i in 0..<total {
                tasks.addTask {
                    let op: ClientRequest.Operation = i % 2 == 0 ? .put(key: "k\(i % 50)", value: [UInt8(i & 0xFF)], expectedRevision: nil)
                        : .get(key: "k\(i % 50)", linearizable: false)
                    return try? await connection.request(ClientRequest(id: UInt64(i + 1), operation: op), timeout: .seconds(30))
                }
            }
            var all: [ClientResponse] = []
            for await r in tasks { if let r { all.append(r) } }
            return all
        }
        #expect(answers.count == total, "every pipelined request is answered")
        #expect(Set(answers.map(\.id)) == Set((1...total).map { UInt64($0) }))
        #expect(answers.allSatisfy { if case .failed = $0.outcome { return false } else { return true } })
        let counters = server.requestCounters
        print("back-pressure: \(counters)")
        #expect(counters.peakRequestsInFlightPerConnection <= bound, "\(counters)")
        #expect(counters.peakRequestsInFlightPerConnection == bound, "the bound was reached: \(counters)")
        #expect(counters.readsPaused > 0, "reading paused at the bound: \(counters)")
        #expect(counters.requestsAnswered == total && counters.requestsInFlight == 0, "\(counters)")

        await connection.close()
        await server.shutdown()
        await runtime.shutdown()
        try await group.shutdownGracefully()
    }
}
