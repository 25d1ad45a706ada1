/// The binary encoding of Raft messages and of the values they carry, and the framing of
/// messages on a byte stream.
///
/// Everything is built from the `WireWriter` primitives: varints (unsigned LEB128, minimal),
/// single bytes, booleans (0/1) and byte strings (varint length + bytes). There is no padding
/// and no version field; the message type byte is the only discriminator.
///
/// A message is one type byte, then the varints `from`, `to`, `term`, then the body:
///
/// | type | body             | body fields, in order                                          |
/// |------|------------------|----------------------------------------------------------------|
/// | 1    | preVote          | lastLogIndex, lastLogTerm, leadershipTransfer (bool)            |
/// | 2    | preVoteResponse  | granted (bool)                                                  |
/// | 3    | vote             | lastLogIndex, lastLogTerm, leadershipTransfer (bool)            |
/// | 4    | voteResponse     | granted (bool)                                                  |
/// | 5    | append           | prevLogIndex, prevLogTerm, commit, entry count, entries         |
/// | 6    | appendResponse   | index, rejected (bool), hintIndex, hintTerm                     |
/// | 7    | heartbeat        | commit, round                                                   |
/// | 8    | heartbeatResponse| round                                                           |
/// | 9    | installSnapshot  | a `Snapshot`                                                    |
/// | 10   | timeoutNow       | (nothing)                                                       |
///
/// Type 0 and 11...255 are invalid. Every term and log index on the wire is at most
/// `maxTerm` / `maxLogIndex` (2^63 - 1); heartbeat rounds and node ids may use all 64 bits.
/// The values inside:
///
/// - `Entry`: term, index, payload tag (0 normal, 1 config change), then for a normal entry
///   its data as a byte string, for a config change a `ConfigChange` followed by the
///   resulting `Membership`.
/// - `ConfigChange`: tag (0 addVoter, 1 addLearner, 2 remove), node id (non-zero).
/// - `Membership`: voter count, voter ids in strictly ascending order, learner count,
///   learner ids in strictly ascending order; ids are non-zero and no id is in both lists.
/// - `SnapshotMetadata`: index, term, `Membership`. `Snapshot`: metadata, data (byte string).
/// - `HardState`: term, vote (0 for `nil`), commit.
///
/// Guarantees:
/// - terms and log indices above 2^63 - 1 are rejected (`invalid`), so decoded values can be
///   compared, converted to `Int` and incremented without overflow (`LogIndex`'s `Strideable`
///   conformance computes with `Int`, and `Term.next` would trap at `UInt64.max`);
/// - decoding never traps and never allocates more than a small multiple of the input size,
///   whatever the input; bad input throws `WireError`;
/// - the encoding is canonical: every value has exactly one encoding, and decoding accepts
///   only that one, so for any bytes `b` that decode to `m`, `encode(m) == b`;
/// - for every value `v` that is valid on the wire (node ids non-zero where required, terms
///   and log indices at most 2^63 - 1), `decode(encode(v)) == v`. Encoding anything else
///   (node 0 as a message's `from`/`to`, in a membership or a config change; a term or
///   index above the bound) produces bytes that decode rejects, except that
///   `HardState(vote: NodeID(0))` decodes as `vote == nil`.
public enum WireCodec {
    // MARK: Message types

    static let typePreVote: UInt8 = 1
    static let typePreVoteResponse: UInt8 = 2
    static let typeVote: UInt8 = 3
    static let typeVoteResponse: UInt8 = 4
    static let typeAppend: UInt8 = 5
    static let typeAppendResponse: UInt8 = 6
    static let typeHeartbeat: UInt8 = 7
    static let typeHeartbeatResponse: UInt8 = 8
    static let typeInstallSnapshot: UInt8 = 9
    static let typeTimeoutNow: UInt8 = 10

    /// The largest term accepted on the wire: 2^63 - 1.
    public static let maxTerm = Term(UInt64(Int64.max))
    /// The largest log index accepted on the wire: 2^63 - 1.
    public static let maxLogIndex = LogIndex(UInt64(Int64.max))

    static func readTerm(_ r: inout WireReader, _ what: String = "term") throws(WireError) -> Term {
        Term(try r.readVarint(atMost: maxTerm.rawValue, what))
    }

    static func readIndex(_ r: inout WireReader, _ what: String = "log index") throws(WireError) -> LogIndex {
        LogIndex(try r.readVarint(atMost: maxLogIndex.rawValue, what))
    }

    /// The fewest bytes an encoded `Entry` can take: term, index, tag, and a one-byte length.
    static let minEntrySize = 4
    /// The most elements reserved up front from a declared count; beyond it arrays grow as
    /// elements actually decode, so a frame can never make the decoder allocate far more
    /// than its own size.
    static let maxReservedElements = 64

    /// The wire type byte of `body`, as in the table above.
    public static func typeByte(of body: MessageBody) -> UInt8 {
        switch body {
        case .preVote: return typePreVote
        case .preVoteResponse: return typePreVoteResponse
        case .vote: return typeVote
        case .voteResponse: return typeVoteResponse
        case .append: return typeAppend
        case .appendResponse: return typeAppendResponse
        case .heartbeat: return typeHeartbeat
        case .heartbeatResponse: return typeHeartbeatResponse
        case .installSnapshot: return typeInstallSnapshot
        case .timeoutNow: return typeTimeoutNow
        }
    }

    // MARK: Messages

    /// The encoding of `message`: type byte, from, to, term, body.
    public static func encode(_ message: Message) -> [UInt8] {
        var w = WireWriter()
        encode(message, into: &w)
        return w.bytes
    }

    /// Appends the encoding of `message` to `writer`.
    public static func encode(_ message: Message, into w: inout WireWriter) {
        w.writeByte(typeByte(of: message.body))
        w.writeVarint(message.from.rawValue)
        w.writeVarint(message.to.rawValue)
        w.writeVarint(message.term.rawValue)
        switch message.body {
        case .preVote(let r), .vote(let r):
            w.writeVarint(r.lastLogIndex.rawValue)
            w.writeVarint(r.lastLogTerm.rawValue)
            w.writeBool(r.leadershipTransfer)
        case .preVoteResponse(let r), .voteResponse(let r):
            w.writeBool(r.granted)
        case .append(let a):
            w.writeVarint(a.prevLogIndex.rawValue)
            w.writeVarint(a.prevLogTerm.rawValue)
            w.writeVarint(a.commit.rawValue)
            w.writeVarint(UInt64(a.entries.count))
            for e in a.entries { encode(e, into: &w) }
        case .appendResponse(let r):
            w.writeVarint(r.index.rawValue)
            w.writeBool(r.rejected)
            w.writeVarint(r.hintIndex.rawValue)
            w.writeVarint(r.hintTerm.rawValue)
        case .heartbeat(let h):
            w.writeVarint(h.commit.rawValue)
            w.writeVarint(h.round)
        case .heartbeatResponse(let h):
            w.writeVarint(h.round)
        case .installSnapshot(let s):
            encode(s, into: &w)
        case .timeoutNow:
            break
        }
    }

    /// Decodes exactly one message that occupies all of `bytes`; leftover bytes throw
    /// `trailingBytes`.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(WireError) -> Message {
        var r = WireReader(bytes)
        let m = try decodeMessage(from: &r)
        try r.expectEnd()
        return m
    }

    /// Decodes exactly one message that occupies all of `bytes`; leftover bytes throw
    /// `trailingBytes`.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Message {
        try decode(bytes[...])
    }

    /// Reads one message from `reader`, leaving it positioned after the message. Does not
    /// require the reader to be at its end afterwards.
    public static func decodeMessage(from r: inout WireReader) throws(WireError) -> Message {
        let type = try r.readByte()
        guard (typePreVote ... typeTimeoutNow).contains(type) else {
            throw .unknownMessageType(type)
        }
        let from = try r.readNodeID("from")
        let to = try r.readNodeID("to")
        let term = try readTerm(&r)
        let body: MessageBody
        switch type {
        case typePreVote:
            body = .preVote(try decodeVoteRequest(from: &r))
        case typeVote:
            body = .vote(try decodeVoteRequest(from: &r))
        case typePreVoteResponse:
            body = .preVoteResponse(VoteResponse(granted: try r.readBool()))
        case typeVoteResponse:
            body = .voteResponse(VoteResponse(granted: try r.readBool()))
        case typeAppend:
            let prevIndex = try readIndex(&r)
            let prevTerm = try readTerm(&r)
            let commit = try readIndex(&r)
            let count = try r.readCount("entries", minElementSize: minEntrySize)
            var entries: [Entry] = []
            // Reserve for what the remaining bytes can hold in memory terms, not for the
            // declared count: an `Entry` in memory is ~12x its smallest encoding.
            entries.reserveCapacity(min(count, Self.maxReservedElements))
            for _ in 0 ..< count {
                entries.append(try decodeEntry(from: &r))
            }
            body = .append(AppendRequest(prevLogIndex: prevIndex, prevLogTerm: prevTerm,
                                         entries: entries, commit: commit))
        case typeAppendResponse:
            let index = try readIndex(&r)
            let rejected = try r.readBool()
            let hintIndex = try readIndex(&r)
            let hintTerm = try readTerm(&r)
            body = .appendResponse(AppendResponse(index: index, rejected: rejected,
                                                  hintIndex: hintIndex, hintTerm: hintTerm))
        case typeHeartbeat:
            let commit = try readIndex(&r)
            let round = try r.readVarint()
            body = .heartbeat(Heartbeat(commit: commit, round: round))
        case typeHeartbeatResponse:
            body = .heartbeatResponse(HeartbeatResponse(round: try r.readVarint()))
        case typeInstallSnapshot:
            body = .installSnapshot(try decodeSnapshot(from: &r))
        default:  // typeTimeoutNow; the range check above excludes everything else.
            body = .timeoutNow
        }
        return Message(from: from, to: to, term: term, body: body)
    }

    static func decodeVoteRequest(from r: inout WireReader) throws(WireError) -> VoteRequest {
        let index = try readIndex(&r)
        let term = try readTerm(&r)
        let transfer = try r.readBool()
        return VoteRequest(lastLogIndex: index, lastLogTerm: term, leadershipTransfer: transfer)
    }

    // MARK: Entries and config changes

    /// Appends the encoding of `entry`: term, index, payload tag, payload.
    public static func encode(_ entry: Entry, into w: inout WireWriter) {
        w.writeVarint(entry.term.rawValue)
        w.writeVarint(entry.index.rawValue)
        switch entry.payload {
        case .normal(let data):
            w.writeByte(0)
            w.writeBytes(data)
        case .configChange(let change, let resulting):
            w.writeByte(1)
            encode(change, into: &w)
            encode(resulting, into: &w)
        }
    }

    /// Reads one `Entry`. Throws `unknownTag("Entry.Payload", _)` for a payload tag other
    /// than 0 or 1.
    public static func decodeEntry(from r: inout WireReader) throws(WireError) -> Entry {
        let term = try readTerm(&r)
        let index = try readIndex(&r)
        let tag = try r.readByte()
        switch tag {
        case 0:
            return Entry(term: term, index: index, payload: .normal(try r.readBytes("entry data")))
        case 1:
            let change = try decodeConfigChange(from: &r)
            let resulting = try decodeMembership(from: &r)
            return Entry(term: term, index: index, payload: .configChange(change, resulting: resulting))
        default:
            throw .unknownTag("Entry.Payload", tag)
        }
    }

    /// Appends the encoding of `change`: tag (0 addVoter, 1 addLearner, 2 remove), node.
    public static func encode(_ change: ConfigChange, into w: inout WireWriter) {
        switch change {
        case .addVoter(let n): w.writeByte(0); w.writeVarint(n.rawValue)
        case .addLearner(let n): w.writeByte(1); w.writeVarint(n.rawValue)
        case .remove(let n): w.writeByte(2); w.writeVarint(n.rawValue)
        }
    }

    /// Reads one `ConfigChange`. Throws `unknownTag("ConfigChange", _)` for an unknown tag and
    /// `invalid` for node 0.
    public static func decodeConfigChange(from r: inout WireReader) throws(WireError) -> ConfigChange {
        let tag = try r.readByte()
        guard tag <= 2 else { throw .unknownTag("ConfigChange", tag) }
        let node = try r.readNodeID("config change node")
        switch tag {
        case 0: return .addVoter(node)
        case 1: return .addLearner(node)
        default: return .remove(node)
        }
    }

    // MARK: Membership and snapshots

    /// Appends the encoding of `membership`: voters then learners, each as a count and the ids
    /// in ascending order.
    public static func encode(_ membership: Membership, into w: inout WireWriter) {
        writeSortedIDs(membership.voters, into: &w)
        writeSortedIDs(membership.learners, into: &w)
    }

    /// Reads one `Membership`. Accepts only the canonical form: ids non-zero and strictly
    /// ascending within each list, and no id in both lists (else `invalid`).
    public static func decodeMembership(from r: inout WireReader) throws(WireError) -> Membership {
        let voters = try readSortedIDs("voters", from: &r)
        let learners = try readSortedIDs("learners", from: &r)
        guard voters.isDisjoint(with: learners) else {
            throw .invalid("a node is both voter and learner")
        }
        return Membership(voters: voters, learners: learners)
    }

    static func writeSortedIDs(_ ids: Set<NodeID>, into w: inout WireWriter) {
        w.writeVarint(UInt64(ids.count))
        for id in ids.sorted() { w.writeVarint(id.rawValue) }
    }

    static func readSortedIDs(_ what: String, from r: inout WireReader) throws(WireError) -> Set<NodeID> {
        let count = try r.readCount(what, minElementSize: 1)
        var ids = Set<NodeID>(minimumCapacity: min(count, Self.maxReservedElements))
        var previous: UInt64 = 0
        for _ in 0 ..< count {
            let id = try r.readNodeID(what)
            guard id.rawValue > previous else {
                throw .invalid("\(what) not strictly ascending")
            }
            previous = id.rawValue
            ids.insert(id)
        }
        return ids
    }

    /// Appends the encoding of `metadata`: index, term, membership.
    public static func encode(_ metadata: SnapshotMetadata, into w: inout WireWriter) {
        w.writeVarint(metadata.index.rawValue)
        w.writeVarint(metadata.term.rawValue)
        encode(metadata.membership, into: &w)
    }

    /// Reads one `SnapshotMetadata`.
    public static func decodeSnapshotMetadata(from r: inout WireReader) throws(WireError) -> SnapshotMetadata {
        let index = try readIndex(&r)
        let term = try readTerm(&r)
        let membership = try decodeMembership(from: &r)
        return SnapshotMetadata(index: index, term: term, membership: membership)
    }

    /// Appends the encoding of `snapshot`: metadata, then the data as a byte string.
    public static func encode(_ snapshot: Snapshot, into w: inout WireWriter) {
        encode(snapshot.metadata, into: &w)
        w.writeBytes(snapshot.data)
    }

    /// Reads one `Snapshot`.
    public static func decodeSnapshot(from r: inout WireReader) throws(WireError) -> Snapshot {
        let metadata = try decodeSnapshotMetadata(from: &r)
        let data = try r.readBytes("snapshot data")
        return Snapshot(metadata: metadata, data: data)
    }

    // MARK: Hard state

    /// Appends the encoding of `state`: term, vote (0 for `nil`), commit.
    public static func encode(_ state: HardState, into w: inout WireWriter) {
        w.writeVarint(state.term.rawValue)
        w.writeVarint(state.vote?.rawValue ?? 0)
        w.writeVarint(state.commit.rawValue)
    }

    /// Reads one `HardState`; a vote of 0 decodes as `nil`.
    public static func decodeHardState(from r: inout WireReader) throws(WireError) -> HardState {
        let term = try readTerm(&r)
        let vote = try r.readVarint()
        let commit = try readIndex(&r)
        return HardState(term: term, vote: vote == 0 ? nil : NodeID(vote), commit: commit)
    }

    // MARK: Stream framing

    /// The size of the frame header: a big-endian `UInt32` length.
    public static let frameHeaderSize = 4

    /// `message` framed for a byte stream: a big-endian `UInt32` length of what follows, then
    /// the encoded message (whose first byte is the type byte). An encoding longer than
    /// `UInt32.max` bytes cannot be framed and traps; transports bound message sizes far
    /// below that.
    public static func frame(_ message: Message) -> [UInt8] {
        var w = WireWriter()
        w.writeRaw([0, 0, 0, 0])
        encode(message, into: &w)
        let length = w.bytes.count - frameHeaderSize
        precondition(UInt64(length) <= UInt64(UInt32.max), "message too large to frame")
        w.patchUInt32BigEndian(UInt32(truncatingIfNeeded: length), at: 0)
        return w.bytes
    }

    /// Takes the next complete frame from the front of `buffer` and decodes it.
    ///
    /// - Returns `nil` and leaves `buffer` untouched if it does not yet hold a whole frame.
    /// - Throws `tooLarge("frame", length)` and leaves `buffer` untouched if the declared
    ///   length exceeds `maxFrameSize`; this is checked as soon as the 4 header bytes are
    ///   there, so a transport can close the connection without buffering the frame.
    /// - Otherwise removes exactly one frame (header and payload) from `buffer`, then returns
    ///   the decoded message or throws the decoding error. The frame is consumed even when
    ///   its payload does not decode, so framing stays in step; a transport will usually close
    ///   the connection anyway.
    public static func nextFrame(in buffer: inout ArraySlice<UInt8>, maxFrameSize: Int) throws(WireError) -> Message? {
        guard buffer.count >= frameHeaderSize else { return nil }
        let s = buffer.startIndex
        let length = UInt32(buffer[s]) << 24 | UInt32(buffer[s + 1]) << 16
            | UInt32(buffer[s + 2]) << 8 | UInt32(buffer[s + 3])
        guard maxFrameSize >= 0, UInt64(length) <= UInt64(maxFrameSize) else {
            throw .tooLarge("frame", Int(clamping: length))
        }
        let payloadLength = Int(length)  // <= maxFrameSize, so it fits in Int.
        guard buffer.count - frameHeaderSize >= payloadLength else { return nil }
        let payloadStart = s + frameHeaderSize
        let payloadEnd = payloadStart + payloadLength
        let payload = buffer[payloadStart ..< payloadEnd]
        buffer = buffer[payloadEnd...]
        return try decode(payload)
    }
}
