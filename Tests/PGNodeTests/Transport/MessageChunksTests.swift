import NIOCore
@testable import PGNode
import RaftCore
import Testing

/// Messages larger than the frame limit travel as chunk frames and arrive whole.
@Suite struct MessageChunksTests {
    func payloads(_ frames: [ByteBuffer]) -> [[UInt8]] {
        frames.map { Array($0.readableBytesView.dropFirst(WireCodec.frameHeaderSize)) }
    }

    @Test func chunksReassembleInOrderAndEachFitsTheFrameLimit() throws {
        let encoded = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let frames = MessageChunks.frames(for: encoded, messageID: 3, maxPayload: 1_000)
        #expect(frames.count == 11)
        #expect(frames.allSatisfy { $0.readableBytes - WireCodec.frameHeaderSize <= 1_000 })
        var a = MessageChunks.Assembler(maxMessageSize: 1 << 20)
        var result: [UInt8]?
        for p in payloads(frames) {
            if case .complete(let whole) = try a.add(p) { result = whole }
        }
        #expect(result == encoded)
    }

    @Test func aRunCutByAReconnectIsDiscardedAndTheNextOneStillArrives() throws {
        let first = payloads(MessageChunks.frames(for: Array(repeating: 1, count: 5_000), messageID: 1, maxPayload: 1_000))
        let second = payloads(MessageChunks.frames(for: Array(repeating: 2, count: 3_000), messageID: 2, maxPayload: 1_000))
        var a = MessageChunks.Assembler(maxMessageSize: 1 << 20)
        #expect(try a.add(first[0]) == .incomplete)
        // The connection broke: the rest of the first message continues on a new one, after
        // a part was lost.
        #expect(try a.add(first[3]) == .discarded)
        var outcomes: [MessageChunks.Assembler.Outcome] = []
        for p in second { outcomes.append(try a.add(p)) }
        #expect(outcomes.last == .complete(Array(repeating: 2, count: 3_000)))
    }

    @Test func aMessageOverTheSizeLimitIsRefused() throws {
        let frames = payloads(MessageChunks.frames(for: Array(repeating: 9, count: 5_000), messageID: 1, maxPayload: 1_000))
        var a = MessageChunks.Assembler(maxMessageSize: 2_000)
        _ = try a.add(frames[0])
        _ = try a.add(frames[1])
        #expect(throws: WireError.self) { _ = try a.add(frames[2]) }
        #expect(throws: WireError.self) { _ = try a.add([MessageChunks.frameType, 0xFF]) }
    }

    /// Over real TCP: a 300 KB snapshot with a 4 KiB frame limit arrives intact, and small
    /// messages around it keep their order.
    @Test func aSnapshotLargerThanTheFrameLimitCrossesTheTransport() async throws {
        try await withTransportTest { group, nodes in
            let configure: (inout TransportConfig) -> Void = { $0.maxFrameSize = 4_096 }
            let a = try await nodes.start(1, group: group, configure: configure)
            let b = try await nodes.start(2, group: group, configure: configure)
            nodes.connectAll([a, b])
            let data = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let snapshot = Snapshot(metadata: SnapshotMetadata(index: 500, term: 3, membership: Membership(voters: [1, 2])), data: data)
            let before = Message(from: 1, to: 2, term: 3, body: .heartbeat(Heartbeat(commit: 1, round: 1)))
            let big = Message(from: 1, to: 2, term: 3, body: .installSnapshot(snapshot))
            let after = Message(from: 1, to: 2, term: 3, body: .heartbeat(Heartbeat(commit: 1, round: 2)))
            #expect(a.transport.send(before))
            #expect(a.transport.send(big))
            #expect(a.transport.send(after))
            let done = await transportEventually { b.inbox.count >= 3 }
            #expect(done)
            #expect(b.inbox.messages == [before, big, after])
            #expect(a.counters.messagesChunked == 1)
            #expect(b.counters.malformedFrames == 0)
        }
    }

    /// Over the size limit of the whole message: dropped, counted, reported to the caller.
    @Test func aMessageOverMaxMessageSizeIsDroppedAndReported() async throws {
        try await withTransportTest { group, nodes in
            let configure: (inout TransportConfig) -> Void = { $0.maxFrameSize = 4_096; $0.maxMessageSize = 50_000 }
            let a = try await nodes.start(1, group: group, configure: configure)
            let b = try await nodes.start(2, group: group, configure: configure)
            nodes.connectAll([a, b])
            let snapshot = Snapshot(metadata: SnapshotMetadata(index: 5, term: 3, membership: Membership(voters: [1, 2])),
                                    data: Array(repeating: 7, count: 100_000))
            #expect(!a.transport.send(Message(from: 1, to: 2, term: 3, body: .installSnapshot(snapshot))))
            #expect(a.counters.messagesDroppedTooLarge == 1)
        }
    }
}

@Suite struct MaxMessageSizeConfigTests {
    @Test func aMessageLimitBelowTheFrameLimitIsAClearConfigError() {
        var config = TransportConfig(clusterName: "c", nodeID: 1, secret: transportTestSecret, listenPort: 0)
        config.maxFrameSize = 4_096
        config.maxMessageSize = 1_000
        #expect(throws: TransportError.self) { try config.validate() }
        config.maxMessageSize = 4_096
        #expect(throws: Never.self) { try config.validate() }
    }
}
