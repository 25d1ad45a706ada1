import RaftCore

/// A request from a store client (the CLI, an agent, a benchmark) to any store node.
public struct ClientRequest: Hashable, Sendable {
    public enum Operation: Hashable, Sendable {
        /// Read one key; `linearizable` reads are answered by the leader after a quorum
        /// round, others by whichever node is asked, from its applied state.
        case get(key: String, linearizable: Bool)
        case list(prefix: String, linearizable: Bool)
        case put(key: String, value: [UInt8], expectedRevision: UInt64?)
        case delete(key: String, expectedRevision: UInt64?)
        /// The answering node's Raft status.
        case status
        /// The answering node's agent's fresh member status (JSON of `HACore.MemberStatus`),
        /// for a new leader's status round; answered by the node asked, never redirected.
        case memberStatus
    }

    /// Chosen by the client; echoed in the response.
    public var id: UInt64
    public var operation: Operation

    public init(id: UInt64, operation: Operation) {
        self.id = id
        self.operation = operation
    }
}

/// A store node's answer.
public struct ClientResponse: Hashable, Sendable {
    public enum Outcome: Hashable, Sendable {
        case value(VersionedValue?)
        case list(revision: UInt64, items: [KeyedValue])
        case written(revision: UInt64)
        case status(NodeStatus)
        /// The agent's fresh member status, as JSON.
        case memberStatus([UInt8])
        /// The request failed and, for a write, was not applied (and will not be).
        case failed(StoreError)
        /// A write was handed to Raft, but the node cannot tell whether it was applied (it
        /// timed out waiting, or the node stopped after proposing it). `reason` says which.
        case outcomeUnknown(reason: String)
    }

    public var id: UInt64
    public var outcome: Outcome

    public init(id: UInt64, outcome: Outcome) {
        self.id = id
        self.outcome = outcome
    }
}

/// A key and its value, as listed.
public struct KeyedValue: Hashable, Sendable {
    public var key: String
    public var value: VersionedValue
    public init(key: String, value: VersionedValue) {
        self.key = key
        self.value = value
    }
}

/// What a node reports about itself.
public struct NodeStatus: Hashable, Sendable {
    public var id: NodeID
    public var term: Term
    public var role: Role
    public var leader: NodeID?
    public var commit: LogIndex
    public var applied: LogIndex
    public var lastIndex: LogIndex
    public var voters: [NodeID]
    public var hasLease: Bool

    public init(_ s: RaftStatus) {
        id = s.id
        term = s.term
        role = s.role
        leader = s.leader
        commit = s.commit
        applied = s.applied
        lastIndex = s.lastIndex
        voters = s.membership.voters.sorted()
        hasLease = s.lease != nil
    }
}

/// The binary form of client messages inside transport frames: a type byte (0x20 request,
/// 0x21 response), then varint fields. Decoding never traps; it throws on anything malformed.
public enum ClientCodec {
    public static let requestType: UInt8 = 0x20
    public static let responseType: UInt8 = 0x21

    public static func encode(_ r: ClientRequest) -> [UInt8] {
        var w = WireWriter()
        w.writeByte(requestType)
        w.writeVarint(r.id)
        switch r.operation {
        case .get(let k, let lin): w.writeByte(1); w.writeBytes(Array(k.utf8)); w.writeBool(lin)
        case .list(let p, let lin): w.writeByte(2); w.writeBytes(Array(p.utf8)); w.writeBool(lin)
        case .put(let k, let v, let e): w.writeByte(3); w.writeBytes(Array(k.utf8)); w.writeBytes(v); StoreCommand.writeExpected(e, &w)
        case .delete(let k, let e): w.writeByte(4); w.writeBytes(Array(k.utf8)); StoreCommand.writeExpected(e, &w)
        case .status: w.writeByte(5)
        case .memberStatus: w.writeByte(6)
        }
        return w.bytes
    }

    public static func decodeRequest(_ bytes: [UInt8]) throws(WireError) -> ClientRequest {
        var r = WireReader(bytes)
        guard try r.readByte() == requestType else { throw .invalid("not a client request") }
        let id = try r.readVarint()
        let op: ClientRequest.Operation
        switch try r.readByte() {
        case 1: op = .get(key: try StoreCommand.readKey(&r), linearizable: try r.readBool())
        case 2: op = .list(prefix: try StoreCommand.readKey(&r), linearizable: try r.readBool())
        case 3:
            let k = try StoreCommand.readKey(&r)
            let v = try r.readBytes("value")
            op = .put(key: k, value: v, expectedRevision: try StoreCommand.readExpected(&r))
        case 4: op = .delete(key: try StoreCommand.readKey(&r), expectedRevision: try StoreCommand.readExpected(&r))
        case 5: op = .status
        case 6: op = .memberStatus
        case let t: throw .unknownTag("ClientRequest", t)
        }
        try r.expectEnd()
        return ClientRequest(id: id, operation: op)
    }

    public static func encode(_ r: ClientResponse) -> [UInt8] {
        var w = WireWriter()
        w.writeByte(responseType)
        w.writeVarint(r.id)
        switch r.outcome {
        case .value(let v):
            w.writeByte(1)
            w.writeBool(v != nil)
            if let v { write(v, &w) }
        case .list(let rev, let items):
            w.writeByte(2)
            w.writeVarint(rev)
            w.writeVarint(UInt64(items.count))
            for i in items { w.writeBytes(Array(i.key.utf8)); write(i.value, &w) }
        case .written(let rev):
            w.writeByte(3)
            w.writeVarint(rev)
        case .status(let s):
            w.writeByte(4)
            w.writeVarint(s.id.rawValue); w.writeVarint(s.term.rawValue)
            w.writeByte(roleCode(s.role)); w.writeVarint(s.leader?.rawValue ?? 0)
            w.writeVarint(s.commit.rawValue); w.writeVarint(s.applied.rawValue); w.writeVarint(s.lastIndex.rawValue)
            w.writeVarint(UInt64(s.voters.count)); for v in s.voters { w.writeVarint(v.rawValue) }
            w.writeBool(s.hasLease)
        case .failed(let e):
            w.writeByte(5)
            switch e {
            case .notLeader(let l): w.writeByte(1); w.writeVarint(l?.rawValue ?? 0)
            case .timeout: w.writeByte(2)
            case .revisionMismatch(let c): w.writeByte(3); w.writeVarint(c)
            case .notFound: w.writeByte(4)
            case .invalidRequest(let why): w.writeByte(5); w.writeBytes(Array(why.utf8))
            case .unavailable(let why): w.writeByte(6); w.writeBytes(Array(why.utf8))
            case .stopped: w.writeByte(7)
            }
        case .outcomeUnknown(let reason):
            w.writeByte(6)
            w.writeBytes(Array(reason.utf8))
        case .memberStatus(let json):
            w.writeByte(7)
            w.writeBytes(json)
        }
        return w.bytes
    }

    public static func decodeResponse(_ bytes: [UInt8]) throws(WireError) -> ClientResponse {
        var r = WireReader(bytes)
        guard try r.readByte() == responseType else { throw .invalid("not a client response") }
        let id = try r.readVarint()
        let outcome: ClientResponse.Outcome
        switch try r.readByte() {
        case 1: outcome = .value(try r.readBool() ? try readValue(&r) : nil)
        case 2:
            let rev = try r.readVarint()
            let n = try r.readCount("items", minElementSize: 5)
            var items: [KeyedValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(KeyedValue(key: try StoreCommand.readKey(&r), value: try readValue(&r))) }
            outcome = .list(revision: rev, items: items)
        case 3: outcome = .written(revision: try r.readVarint())
        case 4:
            let id = NodeID(try r.readVarint()), term = Term(try r.readVarint())
            let role = try role(from: try r.readByte())
            let leaderRaw = try r.readVarint()
            let commit = LogIndex(try r.readVarint()), applied = LogIndex(try r.readVarint()), last = LogIndex(try r.readVarint())
            let n = try r.readCount("voters", minElementSize: 1)
            var voters: [NodeID] = []
            for _ in 0..<n { voters.append(NodeID(try r.readVarint())) }
            let lease = try r.readBool()
            outcome = .status(NodeStatus(id: id, term: term, role: role, leader: leaderRaw == 0 ? nil : NodeID(leaderRaw),
                                         commit: commit, applied: applied, lastIndex: last, voters: voters, hasLease: lease))
        case 5:
            let e: StoreError
            switch try r.readByte() {
            case 1: let l = try r.readVarint(); e = .notLeader(leader: l == 0 ? nil : NodeID(l))
            case 2: e = .timeout
            case 3: e = .revisionMismatch(current: try r.readVarint())
            case 4: e = .notFound
            case 5: e = .invalidRequest(String(decoding: try r.readBytes("reason"), as: UTF8.self))
            case 6: e = .unavailable(String(decoding: try r.readBytes("reason"), as: UTF8.self))
            case 7: e = .stopped
            case let t: throw .unknownTag("StoreError", t)
            }
            outcome = .failed(e)
        case 6: outcome = .outcomeUnknown(reason: String(decoding: try r.readBytes("reason"), as: UTF8.self))
        case 7: outcome = .memberStatus(try r.readBytes("member status"))
        case let t: throw .unknownTag("ClientResponse", t)
        }
        try r.expectEnd()
        return ClientResponse(id: id, outcome: outcome)
    }

    static func write(_ v: VersionedValue, _ w: inout WireWriter) {
        w.writeBytes(v.value)
        w.writeVarint(v.createRevision)
        w.writeVarint(v.modRevision)
        w.writeVarint(v.version)
    }

    static func readValue(_ r: inout WireReader) throws(WireError) -> VersionedValue {
        VersionedValue(value: try r.readBytes("value"), createRevision: try r.readVarint(),
                       modRevision: try r.readVarint(), version: try r.readVarint())
    }

    static func roleCode(_ role: Role) -> UInt8 {
        switch role {
        case .follower: return 0
        case .preCandidate: return 1
        case .candidate: return 2
        case .leader: return 3
        }
    }

    static func role(from code: UInt8) throws(WireError) -> Role {
        switch code {
        case 0: return .follower
        case 1: return .preCandidate
        case 2: return .candidate
        case 3: return .leader
        default: throw .unknownTag("Role", code)
        }
    }
}

extension NodeStatus {
    init(id: NodeID, term: Term, role: Role, leader: NodeID?, commit: LogIndex, applied: LogIndex,
         lastIndex: LogIndex, voters: [NodeID], hasLease: Bool) {
        self.id = id
        self.term = term
        self.role = role
        self.leader = leader
        self.commit = commit
        self.applied = applied
        self.lastIndex = lastIndex
        self.voters = voters
        self.hasLease = hasLease
    }
}
