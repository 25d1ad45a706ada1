import Testing
@testable import RaftCore

// MARK: - Fixtures

/// One or more realistic messages for every `MessageBody` case, including empty, nil-ish and
/// `UInt64.max` fields.
private let wireSamples: [Message] = {
    let bigMembership = Membership(voters: [1, 2, 3, NodeID(1 << 40), NodeID(UInt64.max)], learners: [4, 5, 900_000])
    let entries: [Entry] = [
        Entry(term: 7, index: 101, data: []),
        Entry(term: 7, index: 102, data: Array("SET key=value".utf8)),
        Entry(term: 7, index: 103, payload: .configChange(.addLearner(4), resulting: Membership(voters: [1, 2, 3], learners: [4]))),
        Entry(term: 7, index: 104, payload: .configChange(.addVoter(4), resulting: Membership(voters: [1, 2, 3], learners: [4]))),
        Entry(term: 8, index: 105, payload: .configChange(.remove(NodeID(UInt64.max)), resulting: Membership(voters: [1, 2, 3], learners: [4]))),
        Entry(term: 8, index: 106, data: Array(repeating: 0xAB, count: 300)),
        Entry(term: WireCodec.maxTerm, index: WireCodec.maxLogIndex, data: [0, 0x80, 0xFF]),
    ]
    return [
        Message(from: 1, to: 2, term: 5, body: .preVote(VoteRequest(lastLogIndex: 100, lastLogTerm: 4))),
        Message(from: 1, to: 2, term: 5, body: .preVote(VoteRequest(lastLogIndex: 0, lastLogTerm: 0, leadershipTransfer: true))),
        Message(from: 2, to: 1, term: 5, body: .preVoteResponse(VoteResponse(granted: true))),
        Message(from: 2, to: 1, term: 6, body: .preVoteResponse(VoteResponse(granted: false))),
        Message(from: 3, to: 1, term: 9, body: .vote(VoteRequest(lastLogIndex: 12345, lastLogTerm: 8, leadershipTransfer: true))),
        Message(from: NodeID(UInt64.max), to: NodeID(UInt64.max - 1), term: WireCodec.maxTerm,
                body: .vote(VoteRequest(lastLogIndex: WireCodec.maxLogIndex, lastLogTerm: WireCodec.maxTerm))),
        Message(from: 1, to: 3, term: 9, body: .voteResponse(VoteResponse(granted: true))),
        Message(from: 1, to: 3, term: 0, body: .voteResponse(VoteResponse(granted: false))),
        Message(from: 1, to: 2, term: 7, body: .append(AppendRequest(prevLogIndex: 100, prevLogTerm: 7, entries: [], commit: 99))),
        Message(from: 1, to: 2, term: 8, body: .append(AppendRequest(prevLogIndex: 100, prevLogTerm: 7, entries: entries, commit: 103))),
        Message(from: 1, to: 2, term: 1, body: .append(AppendRequest(prevLogIndex: 0, prevLogTerm: 0,
                                                                     entries: [Entry(term: 1, index: 1)], commit: 0))),
        Message(from: 2, to: 1, term: 8, body: .appendResponse(AppendResponse(index: 106))),
        Message(from: 2, to: 1, term: 8, body: .appendResponse(AppendResponse(index: 100, rejected: true, hintIndex: 90, hintTerm: 6))),
        Message(from: 2, to: 1, term: WireCodec.maxTerm, body: .appendResponse(AppendResponse(
            index: WireCodec.maxLogIndex, rejected: true, hintIndex: WireCodec.maxLogIndex, hintTerm: WireCodec.maxTerm))),
        Message(from: 1, to: 2, term: 8, body: .heartbeat(Heartbeat(commit: 106, round: 0))),
        Message(from: 1, to: 2, term: 8, body: .heartbeat(Heartbeat(commit: WireCodec.maxLogIndex, round: UInt64.max))),
        Message(from: 2, to: 1, term: 8, body: .heartbeatResponse(HeartbeatResponse(round: 77))),
        Message(from: 2, to: 1, term: 8, body: .heartbeatResponse(HeartbeatResponse(round: UInt64.max))),
        Message(from: 1, to: 4, term: 8, body: .installSnapshot(Snapshot())),
        Message(from: 1, to: 4, term: 8, body: .installSnapshot(Snapshot(
            metadata: SnapshotMetadata(index: 5000, term: 7, membership: Membership(voters: [1, 2, 3])),
            data: Array("state machine image".utf8)))),
        Message(from: 1, to: 4, term: 8, body: .installSnapshot(Snapshot(
            metadata: SnapshotMetadata(index: WireCodec.maxLogIndex, term: WireCodec.maxTerm, membership: bigMembership),
            data: (0 ..< 1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }))),
        Message(from: 1, to: 2, term: 9, body: .timeoutNow),
    ]
}()

/// SplitMix64, kept local to this file (RaftCore has its own internal one for election
/// timeouts) so the codec's random tests do not change when that one does.
private struct CodecTestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The codec property for arbitrary bytes: if they decode, they are the canonical encoding of
/// the message, and the message survives another round trip. Returns whether they decoded.
@discardableResult
private func checkDecodeProperty(_ bytes: [UInt8]) -> Bool {
    guard let message = try? WireCodec.decode(bytes) else { return false }
    let again = WireCodec.encode(message)
    if again != bytes {
        Issue.record("re-encoding \(message) changed the bytes: \(bytes) -> \(again)")
    }
    if (try? WireCodec.decode(again)) != message {
        Issue.record("\(message) did not survive a second round trip")
    }
    return true
}

private func varintBytes(_ value: UInt64) -> [UInt8] {
    var w = WireWriter()
    w.writeVarint(value)
    return w.bytes
}

// MARK: - Round trips

@Suite("WireCodec round trips")
struct WireCodecRoundTripTests {
    @Test("samples cover every MessageBody case")
    func samplesCoverEveryCase() {
        let kinds = Set(wireSamples.map(\.body.kind))
        #expect(kinds == ["preVote", "preVoteResponse", "vote", "voteResponse", "append", "appendResponse",
                          "heartbeat", "heartbeatResponse", "installSnapshot", "timeoutNow"])
    }

    @Test("message round-trips", arguments: wireSamples)
    func messageRoundTrip(_ message: Message) throws {
        let bytes = WireCodec.encode(message)
        #expect(try WireCodec.decode(bytes) == message)
        #expect(try WireCodec.decode(bytes[...]) == message)
        // A slice that does not start at index 0.
        let padded = [0xEE, 0xEE] + bytes + [0xEE]
        #expect(try WireCodec.decode(padded[2 ..< padded.count - 1]) == message)
        #expect(WireCodec.encode(message) == bytes, "encoding is deterministic")
    }

    @Test("type bytes follow the documented table")
    func typeBytes() {
        let expected: [String: UInt8] = [
            "preVote": 1, "preVoteResponse": 2, "vote": 3, "voteResponse": 4, "append": 5,
            "appendResponse": 6, "heartbeat": 7, "heartbeatResponse": 8, "installSnapshot": 9, "timeoutNow": 10,
        ]
        for m in wireSamples {
            #expect(WireCodec.encode(m).first == expected[m.body.kind], "\(m.body.kind)")
            #expect(WireCodec.typeByte(of: m.body) == expected[m.body.kind])
        }
    }

    @Test("golden encodings pin the format")
    func golden() {
        #expect(WireCodec.encode(Message(from: 1, to: 2, term: 300, body: .heartbeat(Heartbeat(commit: 5, round: 1))))
                == [7, 1, 2, 0xAC, 0x02, 5, 1])
        #expect(WireCodec.encode(Message(from: 3, to: 1, term: 2, body: .timeoutNow)) == [10, 3, 1, 2])
        #expect(WireCodec.encode(Message(from: 1, to: 2, term: 3, body: .vote(VoteRequest(
            lastLogIndex: 4, lastLogTerm: 2, leadershipTransfer: true)))) == [3, 1, 2, 3, 4, 2, 1])
        #expect(WireCodec.encode(Message(from: 1, to: 2, term: 3, body: .append(AppendRequest(
            prevLogIndex: 4, prevLogTerm: 2,
            entries: [Entry(term: 3, index: 5, data: [0xAA]), Entry(term: 3, index: 6, payload: .configChange(.remove(9), resulting: Membership(voters: [1, 2, 3], learners: [4])))],
            commit: 4)))) == [5, 1, 2, 3, 4, 2, 4, 2, 3, 5, 0, 1, 0xAA, 3, 6, 1, 2, 9, 3, 1, 2, 3, 1, 4])
        #expect(WireCodec.encode(Message(from: 1, to: 2, term: 3, body: .installSnapshot(Snapshot(
            metadata: SnapshotMetadata(index: 10, term: 3, membership: Membership(voters: [3, 1], learners: [7])),
            data: [0x01, 0x02])))) == [9, 1, 2, 3, 10, 3, 2, 1, 3, 1, 7, 2, 1, 2])
    }

    @Test("entries of both payload kinds round-trip")
    func entryRoundTrip() throws {
        let entries: [Entry] = [
            Entry(term: 0, index: 0),
            Entry(term: 3, index: 17, data: Array(0 ... 255)),
            Entry(term: 3, index: 18, payload: .configChange(.addVoter(2), resulting: Membership(voters: [1, 2, 3], learners: [4]))),
            Entry(term: 3, index: 19, payload: .configChange(.addLearner(NodeID(UInt64.max)), resulting: Membership(voters: [1, 2, 3], learners: [4]))),
            Entry(term: 3, index: 20, payload: .configChange(.remove(1), resulting: Membership(voters: [1, 2, 3], learners: [4]))),
        ]
        var w = WireWriter()
        for e in entries { WireCodec.encode(e, into: &w) }
        var r = WireReader(w.bytes)
        for e in entries { #expect(try WireCodec.decodeEntry(from: &r) == e) }
        #expect(r.isAtEnd)
    }

    @Test("memberships, snapshots and config changes round-trip")
    func valueRoundTrips() throws {
        let memberships = [
            Membership(),
            Membership(voters: [1]),
            Membership(voters: [5, 3, 1], learners: [2, 4]),
            Membership(learners: [NodeID(UInt64.max)]),
        ]
        for m in memberships {
            var w = WireWriter()
            WireCodec.encode(m, into: &w)
            var r = WireReader(w.bytes)
            #expect(try WireCodec.decodeMembership(from: &r) == m)
            #expect(r.isAtEnd)

            let snap = Snapshot(metadata: SnapshotMetadata(index: 42, term: 3, membership: m), data: [1, 2, 3])
            var ws = WireWriter()
            WireCodec.encode(snap, into: &ws)
            var rs = WireReader(ws.bytes)
            #expect(try WireCodec.decodeSnapshot(from: &rs) == snap)
            #expect(rs.isAtEnd)
        }
        for c: ConfigChange in [.addVoter(1), .addLearner(300), .remove(NodeID(UInt64.max))] {
            var w = WireWriter()
            WireCodec.encode(c, into: &w)
            var r = WireReader(w.bytes)
            #expect(try WireCodec.decodeConfigChange(from: &r) == c)
            #expect(r.isAtEnd)
        }
    }

    @Test("hard state round-trips; a nil vote is encoded as 0")
    func hardState() throws {
        for hs in [HardState(), HardState(term: 5, vote: 3, commit: 40),
                   HardState(term: WireCodec.maxTerm, vote: NodeID(UInt64.max), commit: WireCodec.maxLogIndex)] {
            var w = WireWriter()
            WireCodec.encode(hs, into: &w)
            var r = WireReader(w.bytes)
            #expect(try WireCodec.decodeHardState(from: &r) == hs)
            #expect(r.isAtEnd)
        }
        var w = WireWriter()
        WireCodec.encode(HardState(term: 2, vote: nil, commit: 1), into: &w)
        #expect(w.bytes == [2, 0, 1])
    }

    @Test("varints are minimal LEB128 and round-trip at the boundaries")
    func varints() throws {
        let cases: [(UInt64, Int)] = [
            (0, 1), (1, 1), (127, 1), (128, 2), (16383, 2), (16384, 3),
            (UInt64(UInt32.max), 5), (1 << 56 - 1, 8), (1 << 56, 9), (1 << 63 - 1, 9), (1 << 63, 10), (UInt64.max, 10),
        ]
        for (value, size) in cases {
            let bytes = varintBytes(value)
            #expect(bytes.count == size, "\(value)")
            var r = WireReader(bytes)
            #expect(try r.readVarint() == value)
            #expect(r.isAtEnd)
        }
        #expect(varintBytes(UInt64.max) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }
}

// MARK: - Framing

@Suite("WireCodec framing")
struct WireCodecFramingTests {
    @Test("a frame is a big-endian u32 length, then the type byte and payload")
    func frameLayout() {
        let m = Message(from: 3, to: 1, term: 2, body: .timeoutNow)
        #expect(WireCodec.frame(m) == [0, 0, 0, 4, 10, 3, 1, 2])
        let big = wireSamples.first { if case .installSnapshot(let s) = $0.body { return s.data.count == 1000 } else { return false } }!
        let frame = WireCodec.frame(big)
        let payload = WireCodec.encode(big)
        let n = payload.count
        #expect(Array(frame.prefix(4)) == [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)])
        #expect(Array(frame.dropFirst(4)) == payload)
    }

    @Test("a partial frame returns nil and consumes nothing, at every cut")
    func partialFrame() throws {
        for m in wireSamples {
            let frame = WireCodec.frame(m)
            for cut in 0 ..< frame.count {
                var buffer = frame[0 ..< cut]
                let before = buffer
                #expect(try WireCodec.nextFrame(in: &buffer, maxFrameSize: 1 << 20) == nil)
                #expect(buffer == before && buffer.startIndex == before.startIndex)
            }
            var whole = frame[...]
            #expect(try WireCodec.nextFrame(in: &whole, maxFrameSize: 1 << 20) == m)
            #expect(whole.isEmpty)
        }
    }

    @Test("frames back to back come out one at a time, in order")
    func backToBack() throws {
        var stream: [UInt8] = []
        for m in wireSamples { stream += WireCodec.frame(m) }
        stream += WireCodec.frame(wireSamples[0]).prefix(3)  // a partial header at the end
        var buffer = stream[...]
        var out: [Message] = []
        while let m = try WireCodec.nextFrame(in: &buffer, maxFrameSize: 1 << 20) { out.append(m) }
        #expect(out == wireSamples)
        #expect(buffer.count == 3)

        // Two frames, then the rest of the second arrives later.
        let a = WireCodec.frame(wireSamples[2]), b = WireCodec.frame(wireSamples[9])
        var buf = (a + b.prefix(5))[...]
        #expect(try WireCodec.nextFrame(in: &buf, maxFrameSize: 1 << 20) == wireSamples[2])
        #expect(try WireCodec.nextFrame(in: &buf, maxFrameSize: 1 << 20) == nil)
        var grown = Array(buf) + b.dropFirst(5)
        var slice = grown[...]
        #expect(try WireCodec.nextFrame(in: &slice, maxFrameSize: 1 << 20) == wireSamples[9])
        #expect(slice.isEmpty)
        grown.removeAll()
    }

    @Test("a declared length above maxFrameSize throws tooLarge before the payload arrives")
    func oversize() throws {
        var buffer: ArraySlice<UInt8> = [0x00, 0x10, 0x00, 0x01, 7]
        #expect(throws: WireError.tooLarge("frame", 0x10_0001)) {
            try WireCodec.nextFrame(in: &buffer, maxFrameSize: 1 << 20)
        }
        #expect(buffer.count == 5)
        var max: ArraySlice<UInt8> = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: WireError.tooLarge("frame", Int(UInt32.max))) {
            try WireCodec.nextFrame(in: &max, maxFrameSize: 1 << 20)
        }
        // Exactly maxFrameSize is allowed.
        let m = Message(from: 3, to: 1, term: 2, body: .timeoutNow)
        var exact = WireCodec.frame(m)[...]
        #expect(try WireCodec.nextFrame(in: &exact, maxFrameSize: 4) == m)
        var over = WireCodec.frame(m)[...]
        #expect(throws: WireError.tooLarge("frame", 4)) { try WireCodec.nextFrame(in: &over, maxFrameSize: 3) }
    }

    @Test("a frame whose payload does not decode is consumed and throws")
    func badPayload() throws {
        var buffer = ([0, 0, 0, 2, 0xFF, 0x00] + WireCodec.frame(wireSamples[0]))[...]
        #expect(throws: WireError.unknownMessageType(0xFF)) {
            try WireCodec.nextFrame(in: &buffer, maxFrameSize: 1 << 20)
        }
        #expect(try WireCodec.nextFrame(in: &buffer, maxFrameSize: 1 << 20) == wireSamples[0])
        var empty: ArraySlice<UInt8> = [0, 0, 0, 0]
        #expect(throws: WireError.truncated) { try WireCodec.nextFrame(in: &empty, maxFrameSize: 10) }
        #expect(empty.isEmpty)
    }
}

// MARK: - Errors

@Suite("WireCodec rejects bad input")
struct WireCodecErrorTests {
    @Test("every proper prefix of a valid encoding throws", arguments: wireSamples)
    func truncation(_ message: Message) {
        let bytes = WireCodec.encode(message)
        for cut in 0 ..< bytes.count {
            #expect(throws: WireError.self, "cut at \(cut)") { try WireCodec.decode(bytes[0 ..< cut]) }
        }
    }

    @Test("unknown type bytes")
    func unknownType() {
        for t: UInt8 in [0, 11, 12, 0x7F, 0x80, 0xFF] {
            #expect(throws: WireError.unknownMessageType(t)) { try WireCodec.decode([t, 1, 2, 3]) }
        }
        #expect(throws: WireError.truncated) { try WireCodec.decode([UInt8]()) }
    }

    @Test("trailing bytes", arguments: wireSamples)
    func trailing(_ message: Message) {
        let bytes = WireCodec.encode(message)
        #expect(throws: WireError.trailingBytes(1)) { try WireCodec.decode(bytes + [0]) }
        #expect(throws: WireError.trailingBytes(3)) { try WireCodec.decode(bytes + [1, 2, 3]) }
    }

    @Test("varint overflow and non-minimal varints")
    func varintOverflow() {
        // 11 continuation bytes.
        var r = WireReader([UInt8](repeating: 0x80, count: 11))
        #expect(throws: WireError.varintOverflow) { try r.readVarint() }
        #expect(r.position == 0)
        // Ten bytes whose value does not fit in 64 bits.
        var r2 = WireReader([UInt8](repeating: 0xFF, count: 9) + [0x02])
        #expect(throws: WireError.varintOverflow) { try r2.readVarint() }
        // Zero-padded encodings of small values.
        var r3 = WireReader([0x81, 0x00])
        #expect(throws: WireError.invalid("non-minimal varint")) { try r3.readVarint() }
        var r4 = WireReader([0x80, 0x80, 0x00])
        #expect(throws: WireError.invalid("non-minimal varint")) { try r4.readVarint() }
        // A varint cut short.
        var r5 = WireReader([0x80, 0x80])
        #expect(throws: WireError.truncated) { try r5.readVarint() }
        // In a message: the term field overflows.
        #expect(throws: WireError.varintOverflow) {
            try WireCodec.decode([10, 1, 2] + [UInt8](repeating: 0x80, count: 11))
        }
    }

    @Test("a huge declared length fails fast without allocating")
    func hugeLength() {
        // A 10-byte input claiming a 2^60-byte string.
        var r = WireReader(varintBytes(1 << 60) + [1, 2])
        #expect(throws: WireError.tooLarge("byte string", 1 << 60)) { try r.readBytes() }
        #expect(r.position == 0)
        var rmax = WireReader(varintBytes(UInt64.max))
        #expect(throws: WireError.tooLarge("byte string", Int.max)) { try rmax.readBytes() }
        // One byte short.
        var r1 = WireReader([3, 1, 2])
        #expect(throws: WireError.tooLarge("byte string", 3)) { try r1.readBytes() }

        // In messages: an entry's data, a snapshot's data, the entry and member counts.
        #expect(throws: WireError.tooLarge("entry data", 1 << 60)) {
            try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 1, 1, 1, 0] + varintBytes(1 << 60))
        }
        #expect(throws: WireError.tooLarge("snapshot data", 1 << 60)) {
            try WireCodec.decode([9, 1, 2, 3, 0, 0, 0, 0] + varintBytes(1 << 60))
        }
        #expect(throws: WireError.tooLarge("entries", 1 << 60)) {
            try WireCodec.decode([5, 1, 2, 3, 0, 0, 0] + varintBytes(1 << 60))
        }
        // Three entries need at least 12 bytes; 11 remain.
        #expect(throws: WireError.tooLarge("entries", 3)) {
            try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 3] + [UInt8](repeating: 1, count: 11))
        }
        #expect(throws: WireError.tooLarge("voters", 1 << 60)) {
            try WireCodec.decode([9, 1, 2, 3, 0, 0] + varintBytes(1 << 60))
        }
    }

    @Test("terms and log indices above 2^63 - 1 are rejected")
    func termAndIndexBound() throws {
        let over = varintBytes(UInt64(Int64.max) + 1)
        let max = varintBytes(UInt64(Int64.max))
        // Message term.
        #expect(throws: WireError.invalid("term above 9223372036854775807")) { try WireCodec.decode([10, 1, 2] + over) }
        #expect(try WireCodec.decode([10, 1, 2] + max).term == WireCodec.maxTerm)
        // Heartbeat commit index, while the round may use all 64 bits.
        #expect(throws: WireError.invalid("log index above 9223372036854775807")) {
            try WireCodec.decode([7, 1, 2, 3] + over + [0])
        }
        #expect(try WireCodec.decode([7, 1, 2, 3, 0] + varintBytes(UInt64.max)).body
                == .heartbeat(Heartbeat(commit: 0, round: UInt64.max)))
        // An entry's index and term.
        #expect(throws: WireError.self) { try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 1, 1] + over + [0, 0]) }
        #expect(throws: WireError.self) { try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 1] + over + [1, 0, 0]) }
        // Hard state.
        var r = WireReader([1, 0] + over)
        #expect(throws: WireError.self) { try WireCodec.decodeHardState(from: &r) }
        // Indices near the bound compare and hash safely once decoded.
        let m = Message(from: 1, to: 2, term: WireCodec.maxTerm, body: .appendResponse(AppendResponse(
            index: WireCodec.maxLogIndex, rejected: true, hintIndex: 0, hintTerm: WireCodec.maxTerm)))
        #expect(try WireCodec.decode(WireCodec.encode(m)) == m)
    }

    @Test("node 0 is not a valid sender, receiver or member")
    func zeroNode() {
        #expect(throws: WireError.invalid("from is node 0")) { try WireCodec.decode([10, 0, 2, 3]) }
        #expect(throws: WireError.invalid("to is node 0")) { try WireCodec.decode([10, 1, 0, 3]) }
        #expect(throws: WireError.invalid("voters is node 0")) {
            try WireCodec.decode([9, 1, 2, 3, 0, 0, 1, 0, 0, 0])
        }
        #expect(throws: WireError.invalid("config change node is node 0")) {
            try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 1, 1, 1, 1, 0, 0])
        }
        // Node 0 as a message's sender encodes, but does not decode.
        let bad = WireCodec.encode(Message(from: 0, to: 1, term: 1, body: .timeoutNow))
        #expect(throws: WireError.self) { try WireCodec.decode(bad) }
    }

    @Test("booleans other than 0 and 1, unknown tags, non-canonical memberships")
    func invalidValues() {
        #expect(throws: WireError.invalid("boolean byte 2")) { try WireCodec.decode([2, 1, 2, 3, 2]) }
        #expect(throws: WireError.invalid("boolean byte 255")) { try WireCodec.decode([3, 1, 2, 3, 0, 0, 0xFF]) }
        #expect(throws: WireError.unknownTag("Entry.Payload", 2)) {
            try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 1, 1, 1, 2, 0])
        }
        #expect(throws: WireError.unknownTag("ConfigChange", 3)) {
            try WireCodec.decode([5, 1, 2, 3, 0, 0, 0, 1, 1, 1, 1, 3, 1])
        }
        // Voters out of order, duplicated, and a node in both lists.
        #expect(throws: WireError.invalid("voters not strictly ascending")) {
            try WireCodec.decode([9, 1, 2, 3, 0, 0, 2, 2, 1, 0, 0])
        }
        #expect(throws: WireError.invalid("voters not strictly ascending")) {
            try WireCodec.decode([9, 1, 2, 3, 0, 0, 2, 1, 1, 0, 0])
        }
        #expect(throws: WireError.invalid("a node is both voter and learner")) {
            try WireCodec.decode([9, 1, 2, 3, 0, 0, 1, 1, 1, 1, 0])
        }
    }
}

// MARK: - Random inputs

@Suite("WireCodec on random input")
struct WireCodecRandomTests {
    @Test("20,000 random byte strings never trap; whatever decodes round-trips canonically")
    func randomBytes() {
        var rng = CodecTestRandom(seed: 0x5EED_C0DE)
        var decoded = 0
        for _ in 0 ..< 20_000 {
            // Mostly short inputs, which often form whole messages; some longer ones.
            let length = rng.next() & 1 == 0 ? 4 + Int(rng.next() % 6) : Int(rng.next() % 48)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(length)
            for i in 0 ..< length {
                let r = rng.next()
                if i == 0 && r & 1 == 0 {
                    bytes.append(UInt8(truncatingIfNeeded: (r >> 8) % 11))  // mostly valid type bytes
                } else if r & 6 != 0 {
                    bytes.append(UInt8(truncatingIfNeeded: (r >> 8) % 4))  // small values: counts, bools, tags
                } else {
                    bytes.append(UInt8(truncatingIfNeeded: r >> 8))
                }
            }
            if checkDecodeProperty(bytes) { decoded += 1 }
        }
        #expect(decoded > 200, "the generator should reach successful decodes (got \(decoded))")
    }

    @Test("mutated valid encodings never trap; whatever decodes round-trips canonically")
    func mutations() {
        var rng = CodecTestRandom(seed: 42)
        var decoded = 0
        let encodings = wireSamples.map(WireCodec.encode)
        for _ in 0 ..< 20_000 {
            var bytes = encodings[Int(rng.next() % UInt64(encodings.count))]
            let edits = 1 + Int(rng.next() % 3)
            for _ in 0 ..< edits {
                let r = rng.next()
                let pos = bytes.isEmpty ? 0 : Int((r >> 8) % UInt64(bytes.count))
                switch bytes.isEmpty ? 4 : r % 5 {
                case 0, 1:  // flip bits
                    bytes[pos] ^= UInt8(truncatingIfNeeded: r >> 32) | 1
                case 2:  // replace with an interesting byte
                    let interesting: [UInt8] = [0, 1, 2, 0x7F, 0x80, 0xFF]
                    bytes[pos] = interesting[Int((r >> 32) % 6)]
                case 3:  // delete
                    bytes.remove(at: pos)
                default:  // insert
                    bytes.insert(UInt8(truncatingIfNeeded: r >> 40), at: pos)
                }
            }
            if checkDecodeProperty(bytes) { decoded += 1 }
        }
        #expect(decoded > 1000, "some mutants should still decode (got \(decoded))")
    }
}
