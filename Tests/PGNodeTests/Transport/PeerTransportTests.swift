import Foundation
import NIOCore
import NIOPosix
@testable import PGNode
import RaftCore
import Testing

/// The transport over real TCP on 127.0.0.1, every listener on an ephemeral port.
@Suite struct PeerTransportTests {
    @Test func threeNodesExchangeMessagesInAllDirections() async throws {
        try await withTransportTest { group, nodes in
            let all = [
                try await nodes.start(1, group: group),
                try await nodes.start(2, group: group),
                try await nodes.start(3, group: group),
            ]
            nodes.connectAll(all)
            var expected: [NodeID: Set<Message>] = [:]
            var seq: UInt64 = 0
            for sender in all {
                for receiver in all where receiver.id != sender.id {
                    // A few kinds, so the content round-trip covers more than appends.
                    let messages = [
                        transportAppend(from: sender.id, to: receiver.id, seq: seq),
                        Message(from: sender.id, to: receiver.id, term: 9, body: .heartbeat(Heartbeat(commit: 4, round: seq))),
                        Message(from: sender.id, to: receiver.id, term: 9, body: .voteResponse(VoteResponse(granted: true))),
                        Message(from: sender.id, to: receiver.id, term: 9, body: .timeoutNow),
                    ]
                    seq += 1
                    for m in messages {
                        sender.transport.send(m)
                        expected[receiver.id, default: []].insert(m)
                    }
                }
            }
            let done = await transportEventually { all.allSatisfy { $0.inbox.count >= 8 } }
            #expect(done, "inbox sizes \(all.map(\.inbox.count))")
            for node in all {
                #expect(Set(node.inbox.messages) == expected[node.id], "n\(node.id.rawValue) got something else")
                #expect(node.inbox.count == 8, "duplicates at n\(node.id.rawValue)")
                let c = node.counters
                #expect(c.messagesSent == 8 && c.messagesReceived == 8)
                // A node may dial a peer that has not loaded its peer table yet (connectAll updates
                // the nodes one after the other): refused as unknown, then retried.
                #expect(c.handshakeFailures.keys.allSatisfy { $0 == .unknownNode || $0 == .closed }, "\(c.handshakeFailures)")
                #expect(c.malformedFrames == 0 && c.oversizeFrames == 0 && c.totalMessagesDropped == 0)
                #expect(c.outboundConnects == 2)
                // Two authenticated connections per pair, one per direction: 2 in + 2 out.
                #expect(c.handshakesCompleted == 4)
            }
            // Order is kept per sender: the heartbeats' rounds arrive in send order.
            let fromOneAtTwo = all[1].inbox.messages.filter { $0.from == 1 }.map(\.body.kind)
            #expect(fromOneAtTwo == ["append", "heartbeat", "voteResponse", "timeoutNow"])
        }
    }

    @Test func peerWithWrongSecretCannotDeliver() async throws {
        try await withTransportTest { group, nodes in
            let good = try await nodes.start(1, group: group)
            let impostor = try await nodes.start(2, group: group) { $0.secret = Array("guessed secret".utf8) }
            good.transport.updatePeers([2: impostor.address])
            impostor.transport.updatePeers([1: good.address])
            impostor.transport.send(Message(from: 2, to: 1, term: 5, body: .timeoutNow))
            good.transport.send(Message(from: 1, to: 2, term: 5, body: .timeoutNow))
            let refused = await transportEventually {
                good.counters.handshakeFailures(.badProof) >= 2 && impostor.counters.handshakeFailures(.badProof) >= 2
            }
            #expect(refused, "\(good.counters.handshakeFailures) / \(impostor.counters.handshakeFailures)")
            #expect(good.inbox.count == 0 && impostor.inbox.count == 0)
            #expect(good.counters.messagesSent == 0 && impostor.counters.messagesSent == 0)
            #expect(good.counters.handshakesCompleted == 0)
            // Each refusal is one warning with the peer's address and id and the reason.
            let warning = good.logs.warnings.first { $0.metadata["reason"] == "badProof" }
            #expect(warning?.metadata["peer.node"] == "2")
            #expect(warning?.metadata["peer.address"]?.contains("127.0.0.1") == true)
            #expect(warning?.message.contains("different secret") == true)
        }
    }

    @Test func peerFromAnotherClusterCannotDeliver() async throws {
        try await withTransportTest { group, nodes in
            let a = try await nodes.start(1, group: group)
            let b = try await nodes.start(2, group: group) { $0.clusterName = "other-cluster" }
            a.transport.updatePeers([2: b.address])
            b.transport.updatePeers([1: a.address])
            b.transport.send(Message(from: 2, to: 1, term: 5, body: .timeoutNow))
            let refused = await transportEventually { a.counters.handshakeFailures(.wrongCluster) >= 2 }
            #expect(refused)
            #expect(a.inbox.count == 0 && b.inbox.count == 0)
            let warning = a.logs.warnings.first { $0.metadata["reason"] == "wrongCluster" }
            #expect(warning?.message.contains("other-cluster") == true)
        }
    }

    /// A flood of bad connections: every refusal is counted, but the log gets about one line
    /// per reason per second.
    @Test func aFloodOfBadConnectionsIsCountedInFullAndLoggedSparingly() async throws {
        try await withTransportTest { group, nodes in
            let server = try await nodes.start(1, group: group)
            let flood = 30
            for _ in 0..<flood {
                let garbage = try await TransportRawClient.connect(group: group, port: server.port)
                await garbage.send([0, 0, 0, 5, 0x42, 0x13, 0x37, 0, 1])
                _ = await garbage.waitClosed()
                await garbage.close()
            }
            #expect(await transportEventually { server.counters.handshakeFailures(.malformed) == flood })
            let lines = server.logs.warnings.filter { $0.metadata["reason"] == "malformed" }
            #expect(lines.count >= 1 && lines.count <= 3, "\(lines.count) lines for \(flood) refusals")
            let reported = lines.compactMap { Int($0.metadata["log.suppressed"] ?? "") }.reduce(0, +)
            #expect(lines.count + reported <= flood)
        }
    }

    @Test func badRawClientsAreDisconnectedAndTheServerKeepsWorking() async throws {
        try await withTransportTest { group, nodes in
            let server = try await nodes.start(1, group: group) { $0.handshakeTimeout = .milliseconds(300) }
            let peer = try await nodes.start(2, group: group)
            nodes.connectAll([server, peer])

            // An HTTP request: its first 4 bytes read as a length of about 1.2 GB.
            let http = try await TransportRawClient.connect(group: group, port: server.port)
            await http.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(await http.waitClosed())
            #expect(await transportEventually { server.counters.oversizeFrames == 1 })

            // A length prefix just over the pre-authentication limit.
            let oversize = try await TransportRawClient.connect(group: group, port: server.port)
            await oversize.send([0, 0, 2, 1])
            #expect(await oversize.waitClosed())
            #expect(await transportEventually { server.counters.oversizeFrames == 2 })

            // A well-framed frame of garbage.
            let garbage = try await TransportRawClient.connect(group: group, port: server.port)
            await garbage.send([0, 0, 0, 5, 0x42, 0x13, 0x37, 0, 1])
            #expect(await garbage.waitClosed())
            #expect(await transportEventually { server.counters.handshakeFailures(.malformed) == 1 })

            // A valid Raft message, but no handshake.
            let eager = try await TransportRawClient.connect(group: group, port: server.port)
            await eager.send(WireCodec.frame(Message(from: 2, to: 1, term: 3, body: .timeoutNow)))
            #expect(await eager.waitClosed())
            #expect(await transportEventually { server.counters.handshakeFailures(.frameBeforeAuthentication) == 1 })

            // Silence: the handshake times out.
            let silent = try await TransportRawClient.connect(group: group, port: server.port)
            #expect(await silent.waitClosed())
            #expect(await transportEventually { server.counters.handshakeFailures(.timeout) == 1 })

            // Nothing of that reached Raft, and a good peer still gets through.
            #expect(server.inbox.count == 0)
            peer.transport.send(Message(from: 2, to: 1, term: 3, body: .heartbeat(Heartbeat(commit: 0, round: 1))))
            #expect(await transportEventually { server.inbox.count == 1 })
            // One warning per reason (rate-limited: the second oversize frame within a second
            // is counted above, not logged), each with a reason.
            let reasons = server.logs.warnings.compactMap { $0.metadata["reason"] }
            #expect(reasons.sorted() == ["frameBeforeAuthentication", "malformed", "oversizeFrame", "timeout"])
            for client in [http, oversize, garbage, eager, silent] { await client.close() }
        }
    }

    @Test func authenticatedPeerSendingUndecodableMessageIsDisconnected() async throws {
        try await withTransportTest { group, nodes in
            // Node 2 is known from the start (updatePeers applies asynchronously, and a
            // connection racing it would be refused as an unknown node).
            // The handshake below is driven by polling; give it time on a loaded machine (this
            // test is not about timeouts).
            let server = try await nodes.start(1, group: group) {
                $0.maxFrameSize = 1024
                $0.peers = [2: PeerAddress(host: "127.0.0.1", port: 1)]
                $0.handshakeTimeout = .seconds(10)
            }

            /// Connects as node 2 with the real handshake driven by hand.
            func authenticatedClient() async throws -> TransportRawClient {
                let client = try await TransportRawClient.connect(group: group, port: server.port)
                var handshake = Handshake(configuration: .init(clusterName: "test-cluster", localID: 2, secret: transportTestSecret,
                                                               knownPeers: [1], expectedPeer: 1))
                var pending = handshake.start()
                while handshake.authenticatedPeer == nil {
                    for case .send(let payload) in pending { await client.send(Handshake.framed(payload)) }
                    guard let frame = await client.nextFrame() else { break }
                    pending = handshake.receive(frame)
                }
                #expect(handshake.authenticatedPeer == 1, "server said: \(server.logs.warnings.map { "\($0.message) \($0.metadata)" })")
                return client
            }

            let client = try await authenticatedClient()
            let good = Message(from: 2, to: 1, term: 4, body: .voteResponse(VoteResponse(granted: false)))
            await client.send(WireCodec.frame(good))
            #expect(await transportEventually { server.inbox.messages == [good] })
            // Type 5 (append) with a body that does not decode.
            await client.send([0, 0, 0, 4, 5, 2, 1, 0xFF])
            #expect(await client.waitClosed())
            #expect(server.counters.malformedFrames == 1)
            #expect(server.inbox.count == 1)

            // After authentication the limit is maxFrameSize (1024), not the handshake's.
            let big = try await authenticatedClient()
            let fits = Message(from: 2, to: 1, term: 4, body: .append(AppendRequest(
                prevLogIndex: 0, prevLogTerm: 0, entries: [Entry(term: 4, index: 1, data: [UInt8](repeating: 7, count: 900))], commit: 0)))
            await big.send(WireCodec.frame(fits))
            #expect(await transportEventually { server.inbox.count == 2 })
            await big.send([0, 0, 4, 1])  // 1025
            #expect(await big.waitClosed())
            #expect(server.counters.oversizeFrames == 1)

            // A handshake frame after authentication is a protocol violation.
            let again = try await authenticatedClient()
            await again.send(Handshake.framed([Handshake.acceptType]))
            #expect(await again.waitClosed())
            #expect(server.counters.malformedFrames == 2)
            for c in [client, big, again] { await c.close() }
        }
    }

    @Test func misaddressedMessagesAreDroppedAndCounted() async throws {
        try await withTransportTest { group, nodes in
            let a = try await nodes.start(1, group: group)
            let b = try await nodes.start(2, group: group)
            let c = try await nodes.start(3, group: group)
            nodes.connectAll([a, b, c])
            // Node 1 claims to send on behalf of node 3: node 2 knows the connection is from 1.
            a.transport.send(Message(from: 3, to: 2, term: 1, body: .timeoutNow))
            a.transport.send(Message(from: 1, to: 2, term: 1, body: .timeoutNow))
            #expect(await transportEventually { b.inbox.count == 1 && b.counters.messagesMisaddressed == 1 })
            #expect(b.inbox.messages.first?.from == 1)
            // A message to a node that is not a peer, and one to ourselves, never leave.
            a.transport.send(Message(from: 1, to: 9, term: 1, body: .timeoutNow))
            a.transport.send(Message(from: 1, to: 1, term: 1, body: .timeoutNow))
            #expect(a.counters.messagesDroppedUnknownPeer == 2)
        }
    }

    @Test func messageLargerThanMaxMessageSizeIsDroppedBySender() async throws {
        try await withTransportTest { group, nodes in
            let a = try await nodes.start(1, group: group) { $0.maxFrameSize = 200; $0.maxMessageSize = 250 }
            let b = try await nodes.start(2, group: group)
            nodes.connectAll([a, b])
            a.transport.send(transportAppend(from: 1, to: 2, seq: 1, size: 300))
            a.transport.send(transportAppend(from: 1, to: 2, seq: 2, size: 100))
            #expect(await transportEventually { b.inbox.count == 1 })
            #expect(a.counters.messagesDroppedTooLarge == 1)
        }
    }

    @Test func peerRestartReconnectsAndDeliveryResumes() async throws {
        try await withTransportTest { group, nodes in
            let a = try await nodes.start(1, group: group) { $0.maxQueuedMessagesPerPeer = 10 }
            let b = try await nodes.start(2, group: group)
            nodes.connectAll([a, b])
            a.transport.send(Message(from: 1, to: 2, term: 1, body: .heartbeat(Heartbeat(commit: 0, round: 0))))
            #expect(await transportEventually { b.inbox.count == 1 })
            let port = b.port

            await b.transport.shutdown()
            #expect(await transportEventually { a.counters.outboundDisconnects == 1 })
            // While b is down: 10 messages wait in the queue, 40 are dropped and counted.
            for round in UInt64(1) ... 50 {
                a.transport.send(Message(from: 1, to: 2, term: 1, body: .heartbeat(Heartbeat(commit: 0, round: round))))
            }
            #expect(a.counters.queuedMessages == 10)
            #expect(a.counters.messagesDroppedQueueFull == 40)
            #expect(a.logs.warnings.filter { $0.message.contains("queue to peer is full") }.count == 1)

            // A new process for node 2 on the same port: a redials with backoff and the queue drains.
            let b2 = try await nodes.start(2, group: group) {
                $0.listenPort = port
                $0.peers = [1: a.address]
            }
            #expect(await transportEventually { b2.inbox.count == 10 })
            #expect(b2.inbox.messages.map { if case .heartbeat(let h) = $0.body { h.round } else { 0 } } == Array(UInt64(1) ... 10))
            a.transport.send(Message(from: 1, to: 2, term: 1, body: .heartbeat(Heartbeat(commit: 0, round: 99))))
            #expect(await transportEventually { b2.inbox.count == 11 })
            #expect(a.counters.outboundConnects == 2)
            #expect(a.counters.queuedMessages == 0)
            // And the other direction works with the new process too.
            b2.transport.send(Message(from: 2, to: 1, term: 1, body: .timeoutNow))
            #expect(await transportEventually { a.inbox.count == 1 })
        }
    }

    @Test func queueToUnreachablePeerStaysBounded() async throws {
        try await withTransportTest { group, nodes in
            // Nothing listens on port 1 of 127.0.0.1: every connect is refused.
            let a = try await nodes.start(1, group: group) { $0.peers = [2: PeerAddress(host: "127.0.0.1", port: 1)] }
            let total = 100_000
            let rssBefore = residentMemoryBytes()
            for i in 0 ..< total {
                a.transport.send(transportAppend(from: 1, to: 2, seq: UInt64(i)))
            }
            let c = a.counters
            let limits = TransportConfig(clusterName: "x", nodeID: 1, secret: [1], listenPort: 0)
            #expect(c.queuedMessages <= limits.maxQueuedMessagesPerPeer)
            #expect(c.queuedBytes <= limits.maxQueuedBytesPerPeer)
            #expect(c.queuedMessages + c.messagesDroppedQueueFull == total)
            #expect(c.messagesDroppedQueueFull >= total - limits.maxQueuedMessagesPerPeer)
            #expect(c.messagesSent == 0)
            let rssAfter = residentMemoryBytes()
            print("queue bound: \(total) sends to an unreachable peer -> queued \(c.queuedMessages) messages / \(c.queuedBytes) bytes, dropped \(c.messagesDroppedQueueFull); RSS +\((rssAfter - rssBefore) >> 20) MiB")
            await a.transport.shutdown()
            #expect(a.counters.messagesDroppedStopped == c.queuedMessages)
            #expect(a.counters.queuedMessages == 0)
        }
    }

    @Test func peerAddressChangeRedialsTheNewAddress() async throws {
        try await withTransportTest { group, nodes in
            let a = try await nodes.start(1, group: group) { $0.peers = [2: PeerAddress(host: "127.0.0.1", port: 1)] }
            let b = try await nodes.start(2, group: group)
            b.transport.updatePeers([1: (host: "127.0.0.1", port: a.port)])
            a.transport.send(Message(from: 1, to: 2, term: 1, body: .timeoutNow))
            try await Task.sleep(for: .milliseconds(50))
            #expect(b.inbox.count == 0)
            a.transport.updatePeers([2: (host: "127.0.0.1", port: b.port)])
            #expect(await transportEventually { b.inbox.count == 1 })
            // Removing the peer drops its connection; sends are then counted as unknown peer.
            a.transport.updatePeers([NodeID: PeerAddress]())
            a.transport.send(Message(from: 1, to: 2, term: 1, body: .timeoutNow))
            #expect(a.counters.messagesDroppedUnknownPeer == 1)
        }
    }

    @Test func startValidatesTheConfigAndStartsOnce() async throws {
        try await withTransportTest { group, nodes in
            let bad = PeerTransport(config: TransportConfig(clusterName: "c", nodeID: 0, secret: [1], listenPort: 0),
                                    group: group, logger: .init(label: "t"), onMessage: { _ in })
            await #expect(throws: TransportError.self) { try await bad.start() }
            let noSecret = PeerTransport(config: TransportConfig(clusterName: "c", nodeID: 1, secret: [], listenPort: 0),
                                         group: group, logger: .init(label: "t"), onMessage: { _ in })
            await #expect(throws: TransportError.self) { try await noSecret.start() }
            let a = try await nodes.start(1, group: group)
            await #expect(throws: TransportError.alreadyStarted) { try await a.transport.start() }
            await a.transport.shutdown()
            #expect(a.transport.listeningPort == nil)
            a.transport.send(Message(from: 1, to: 2, term: 1, body: .timeoutNow))
            #expect(a.counters.messagesDroppedStopped == 1)
        }
    }
}

/// This process's resident set size, from /proc (0 where unavailable).
func residentMemoryBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * 4096
}
