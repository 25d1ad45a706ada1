@testable import PGNode
import RaftCore
import Testing

/// The handshake state machine alone: two instances talk through arrays, no sockets.
@Suite struct HandshakeTests {
    static let secret: [UInt8] = Array("the shared secret".utf8)

    static func config(_ id: NodeID, cluster: String = "alpha", secret: [UInt8] = secret,
                       known: Set<NodeID> = [1, 2, 3], acceptClients: Bool = false,
                       expected: NodeID? = nil) -> Handshake.Configuration {
        Handshake.Configuration(clusterName: cluster, localID: id, secret: secret, knownPeers: known,
                                acceptClients: acceptClients, expectedPeer: expected)
    }

    static func nonce(_ seed: UInt8) -> [UInt8] { (0 ..< 32).map { UInt8(truncatingIfNeeded: Int($0) * 7 + Int(seed)) } }

    /// What each side ended with: `authenticated(peer)` or `fail(...)`, in order.
    struct Outcome {
        var a: [Handshake.Action] = []
        var b: [Handshake.Action] = []
    }

    /// Runs both sides to completion, delivering each sent frame to the other side in order.
    /// A side that fails stops sending, and the other side then sees the connection close.
    static func run(_ a: inout Handshake, _ b: inout Handshake) -> Outcome {
        var outcome = Outcome()
        var toB: [[UInt8]] = []
        var toA: [[UInt8]] = []
        func absorb(_ actions: [Handshake.Action], into outbox: inout [[UInt8]], events: inout [Handshake.Action]) {
            for action in actions {
                if case .send(let payload) = action { outbox.append(payload) } else { events.append(action) }
            }
        }
        absorb(a.start(), into: &toB, events: &outcome.a)
        absorb(b.start(), into: &toA, events: &outcome.b)
        while !toA.isEmpty || !toB.isEmpty {
            if !toB.isEmpty {
                let frame = toB.removeFirst()
                absorb(b.receive(frame), into: &toA, events: &outcome.b)
            }
            if !toA.isEmpty {
                let frame = toA.removeFirst()
                absorb(a.receive(frame), into: &toB, events: &outcome.a)
            }
            // A failed side closes the connection: nothing it queued is delivered after that.
            if case .failed = a.state { toB.removeAll() }
            if case .failed = b.state { toA.removeAll() }
        }
        absorb(a.connectionClosed(), into: &toB, events: &outcome.a)
        absorb(b.connectionClosed(), into: &toA, events: &outcome.b)
        return outcome
    }

    static func reason(_ actions: [Handshake.Action]) -> Handshake.FailureReason? {
        for case .fail(let f) in actions { return f.reason }
        return nil
    }

    @Test func bothSidesAuthenticateEachOther() {
        var a = Handshake(configuration: Self.config(1, expected: 2), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        let outcome = Self.run(&a, &b)
        #expect(outcome.a == [.authenticated(peer: 2)])
        #expect(outcome.b == [.authenticated(peer: 1)])
        #expect(a.authenticatedPeer == 2 && b.authenticatedPeer == 1)
        #expect(a.isFinished && b.isFinished)
    }

    @Test func authenticationIsSymmetricWhicheverSideStartsFirst() {
        // Same as above with the roles of the instances swapped, and a random nonce.
        var a = Handshake(configuration: Self.config(3))
        var b = Handshake(configuration: Self.config(1, expected: 3))
        let outcome = Self.run(&a, &b)
        #expect(outcome.a == [.authenticated(peer: 1)])
        #expect(outcome.b == [.authenticated(peer: 3)])
    }

    @Test func proofIsTheSpecifiedHMAC() {
        var a = Handshake(configuration: Self.config(1), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        let helloB = b.start()
        _ = a.start()
        guard case .send(let hello) = helloB.first else { Issue.record("no hello"); return }
        let reply = a.receive(hello)
        // Proof = HMAC-SHA256(secret, "pgha-auth-v1" | b's nonce | a's id (8 bytes BE) | cluster).
        let expected = Handshake.proof(secret: Self.secret, nonce: Self.nonce(2), prover: 1, clusterName: "alpha")
        #expect(reply == [.send([Handshake.proofType] + expected)])
        let input = Array("pgha-auth-v1".utf8) + Self.nonce(2) + [0, 0, 0, 0, 0, 0, 0, 1] + Array("alpha".utf8)
        #expect(Handshake.proofInput(nonce: Self.nonce(2), prover: 1, clusterName: "alpha") == input)
        #expect(expected.count == 32)
    }

    @Test func wrongClusterIsRefusedByBothSides() {
        var a = Handshake(configuration: Self.config(1, cluster: "alpha"), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(2, cluster: "beta"), nonce: Self.nonce(2))
        let outcome = Self.run(&a, &b)
        #expect(Self.reason(outcome.a) == .wrongCluster)
        #expect(Self.reason(outcome.b) == .wrongCluster)
        #expect(a.authenticatedPeer == nil && b.authenticatedPeer == nil)
    }

    @Test func wrongSecretFailsTheProofOnBothSides() {
        var a = Handshake(configuration: Self.config(1), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(2, secret: Array("another secret".utf8)), nonce: Self.nonce(2))
        let outcome = Self.run(&a, &b)
        #expect(Self.reason(outcome.a) == .badProof)
        #expect(Self.reason(outcome.b) == .badProof)
        #expect(!outcome.a.contains(.authenticated(peer: 2)))
        #expect(!outcome.b.contains(.authenticated(peer: 1)))
    }

    @Test func wrongVersionIsRefused() {
        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = b.start()
        let hello = Handshake.encodeHello(version: 2, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1))
        #expect(Self.reason(b.receive(hello)) == .wrongVersion)
        // A future Hello layout must still be reported as a version problem, not as garbage.
        var c = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = c.start()
        #expect(Self.reason(c.receive([Handshake.helloType, 9, 0xFF, 0xFF])) == .wrongVersion)
    }

    @Test func ownNodeIDIsRefused() {
        var a = Handshake(configuration: Self.config(1), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(1), nonce: Self.nonce(2))
        let outcome = Self.run(&a, &b)
        #expect(Self.reason(outcome.a) == .selfNode)
        #expect(Self.reason(outcome.b) == .selfNode)
    }

    @Test func unknownNodeIsRefusedAndTheOtherSideSeesTheClose() {
        var a = Handshake(configuration: Self.config(9, known: [2]), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(2, known: [1, 3]), nonce: Self.nonce(2))
        let outcome = Self.run(&a, &b)
        #expect(Self.reason(outcome.b) == .unknownNode)
        #expect(Self.reason(outcome.a) == .closed)
        #expect(b.claimedPeer == 9)
    }

    @Test func unexpectedNodeOnAnOutboundConnectionIsRefused() {
        var a = Handshake(configuration: Self.config(1, expected: 2), nonce: Self.nonce(1))
        var b = Handshake(configuration: Self.config(3), nonce: Self.nonce(2))
        let outcome = Self.run(&a, &b)
        #expect(Self.reason(outcome.a) == .unexpectedNode)
    }

    @Test func raftFrameBeforeAuthenticationIsRefusedInEveryState() {
        let raft = WireCodec.encode(Message(from: 1, to: 2, term: 1, body: .timeoutNow))
        // Before the peer's Hello.
        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = b.start()
        #expect(Self.reason(b.receive(raft)) == .frameBeforeAuthentication)
        // After the peer's Hello, before its Proof.
        var c = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = c.start()
        _ = c.receive(Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1)))
        #expect(Self.reason(c.receive(raft)) == .frameBeforeAuthentication)
        #expect(c.authenticatedPeer == nil)
        // Every Raft type byte is recognised.
        for type in UInt8(1) ... 10 {
            var d = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
            _ = d.start()
            #expect(Self.reason(d.receive([type, 1, 2, 3])) == .frameBeforeAuthentication)
        }
    }

    @Test func clientIsAcceptedOnlyWhenAllowed() {
        // A client (node id 0) dials a server that does not accept clients.
        var client = Handshake(configuration: Self.config(Handshake.clientID, known: [2], expected: 2), nonce: Self.nonce(1))
        var strict = Handshake(configuration: Self.config(2, acceptClients: false), nonce: Self.nonce(2))
        let refused = Self.run(&client, &strict)
        #expect(Self.reason(refused.b) == .clientNotAllowed)
        #expect(client.authenticatedPeer == nil)

        var client2 = Handshake(configuration: Self.config(Handshake.clientID, known: [2], expected: 2), nonce: Self.nonce(3))
        var server = Handshake(configuration: Self.config(2, acceptClients: true), nonce: Self.nonce(4))
        let accepted = Self.run(&client2, &server)
        #expect(accepted.b == [.authenticated(peer: Handshake.clientID)])
        #expect(accepted.a == [.authenticated(peer: 2)])
        #expect(server.authenticatedPeer == Handshake.clientID)
    }

    @Test func clientWithWrongSecretIsRefused() {
        var client = Handshake(configuration: Self.config(0, secret: [1, 2, 3], known: [2]), nonce: Self.nonce(1))
        var server = Handshake(configuration: Self.config(2, acceptClients: true), nonce: Self.nonce(2))
        let outcome = Self.run(&client, &server)
        #expect(Self.reason(outcome.b) == .badProof)
    }

    @Test func replayedProofFromAnotherConnectionIsRefused() {
        // Record a's proof for b's nonce 2, then replay it where b uses a fresh nonce.
        let recorded = Handshake.proof(secret: Self.secret, nonce: Self.nonce(2), prover: 1, clusterName: "alpha")
        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(99))
        _ = b.start()
        _ = b.receive(Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1)))
        #expect(Self.reason(b.receive([Handshake.proofType] + recorded)) == .badProof)
    }

    @Test func reflectedProofIsRefused() {
        // An attacker relays b's own proof (made for "b") back to b while claiming to be node 1.
        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = b.start()
        _ = b.receive(Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(2)))
        let reflected = Handshake.proof(secret: Self.secret, nonce: Self.nonce(2), prover: 2, clusterName: "alpha")
        #expect(Self.reason(b.receive([Handshake.proofType] + reflected)) == .badProof)
    }

    @Test func framesOutOfOrderAreRefused() {
        var a = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = a.start()
        #expect(Self.reason(a.receive([Handshake.proofType] + [UInt8](repeating: 0, count: 32))) == .outOfOrder)

        var b = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = b.start()
        #expect(Self.reason(b.receive([Handshake.acceptType])) == .outOfOrder)

        var c = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = c.start()
        let hello = Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1))
        _ = c.receive(hello)
        #expect(Self.reason(c.receive(hello)) == .outOfOrder)

        var d = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        #expect(Self.reason(d.receive(hello)) == .outOfOrder)  // before start()
    }

    @Test func malformedFramesAreRefused() {
        let bad: [[UInt8]] = [
            [],                                    // empty
            [0x42, 1, 2],                          // unknown type
            [0],                                   // type 0
            [Handshake.helloType],                 // truncated Hello
            [Handshake.helloType, 1, 1, 5, 0x61],  // cluster name runs past the end
            Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1)).dropLast(),  // short nonce
            Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1)) + [0],  // trailing byte
            Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "\u{FFFD}", nonce: Self.nonce(1))
                .enumerated().map { $0.offset == 4 ? 0xFF : $0.element },  // invalid UTF-8 in the name
        ]
        for frame in bad {
            var h = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
            _ = h.start()
            let actions = h.receive(frame)
            #expect(Self.reason(actions) == .malformed, "\(frame)")
        }
        // A Proof of the wrong size.
        var h = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = h.start()
        _ = h.receive(Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1)))
        #expect(Self.reason(h.receive([Handshake.proofType, 1, 2, 3])) == .malformed)
    }

    @Test func timeoutFailsOnlyAnUnfinishedHandshake() {
        var a = Handshake(configuration: Self.config(1), nonce: Self.nonce(1))
        _ = a.start()
        #expect(Self.reason(a.timedOut()) == .timeout)
        #expect(a.timedOut().isEmpty)  // already failed

        var x = Handshake(configuration: Self.config(1), nonce: Self.nonce(1))
        var y = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = Self.run(&x, &y)
        #expect(x.timedOut().isEmpty && x.authenticatedPeer == 2)
    }

    @Test func failedHandshakeIgnoresFurtherInput() {
        var a = Handshake(configuration: Self.config(2), nonce: Self.nonce(2))
        _ = a.start()
        _ = a.receive([0x42])
        #expect(a.receive(Handshake.encodeHello(version: 1, nodeID: 1, clusterName: "alpha", nonce: Self.nonce(1))).isEmpty)
        #expect(a.authenticatedPeer == nil)
    }

    @Test func handshakeFramesFitThePreAuthenticationLimit() {
        let longest = Handshake.encodeHello(version: 1, nodeID: NodeID(.max),
                                            clusterName: String(repeating: "x", count: Handshake.maxClusterNameBytes),
                                            nonce: Self.nonce(0))
        #expect(longest.count <= Handshake.maxFrameSize)
        #expect(Handshake.isHandshakeFrame(typeByte: 0xF0) && Handshake.isHandshakeFrame(typeByte: 0xF2))
        #expect(!Handshake.isHandshakeFrame(typeByte: 10) && !Handshake.isHandshakeFrame(typeByte: 0xF3))
    }
}
