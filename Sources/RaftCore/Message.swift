/// A message between two Raft nodes. Every message carries the sender's term; how the
/// receiver treats the term is in `RaftNode.step(_:)`.
public struct Message: Hashable, Sendable, CustomStringConvertible {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var body: MessageBody

    public init(from: NodeID, to: NodeID, term: Term, body: MessageBody) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    public var description: String { "\(from)->\(to) \(term) \(body)" }
}

/// What a message says. Each case is one RPC or its answer from the Raft paper, plus the
/// pre-vote round (thesis §9.6), heartbeats that double as ReadIndex and lease rounds, and
/// TimeoutNow for leadership transfer (thesis §3.10).
public enum MessageBody: Hashable, Sendable, CustomStringConvertible {
    /// "Would you vote for me in term `message.term`?" Changes no state on either side.
    case preVote(VoteRequest)
    case preVoteResponse(VoteResponse)
    /// RequestVote.
    case vote(VoteRequest)
    case voteResponse(VoteResponse)
    /// AppendEntries carrying entries (possibly none, to probe a follower).
    case append(AppendRequest)
    case appendResponse(AppendResponse)
    /// Leader liveness, commit propagation, and a numbered round used for ReadIndex and the
    /// leader lease.
    case heartbeat(Heartbeat)
    case heartbeatResponse(HeartbeatResponse)
    /// InstallSnapshot: the follower replaces its log prefix with the snapshot.
    case installSnapshot(Snapshot)
    /// "Start an election now, skipping pre-vote": the last step of a leadership transfer.
    case timeoutNow

    /// A short name for logs and counters.
    public var kind: String {
        switch self {
        case .preVote: return "preVote"
        case .preVoteResponse: return "preVoteResponse"
        case .vote: return "vote"
        case .voteResponse: return "voteResponse"
        case .append: return "append"
        case .appendResponse: return "appendResponse"
        case .heartbeat: return "heartbeat"
        case .heartbeatResponse: return "heartbeatResponse"
        case .installSnapshot: return "installSnapshot"
        case .timeoutNow: return "timeoutNow"
        }
    }

    public var description: String {
        switch self {
        case .preVote(let r), .vote(let r):
            return "\(kind)(last=\(r.lastLogIndex.rawValue)@\(r.lastLogTerm.rawValue)\(r.leadershipTransfer ? " transfer" : ""))"
        case .preVoteResponse(let r), .voteResponse(let r):
            return "\(kind)(\(r.granted ? "granted" : "rejected"))"
        case .append(let a):
            return "append(prev=\(a.prevLogIndex.rawValue)@\(a.prevLogTerm.rawValue) n=\(a.entries.count) commit=\(a.commit.rawValue))"
        case .appendResponse(let r):
            return r.rejected
                ? "appendResponse(reject \(r.index.rawValue) hint=\(r.hintIndex.rawValue)@\(r.hintTerm.rawValue))"
                : "appendResponse(ok \(r.index.rawValue))"
        case .heartbeat(let h): return "heartbeat(commit=\(h.commit.rawValue) round=\(h.round))"
        case .heartbeatResponse(let h): return "heartbeatResponse(round=\(h.round))"
        case .installSnapshot(let s): return "installSnapshot(\(s.metadata.index.rawValue)@\(s.metadata.term.rawValue))"
        case .timeoutNow: return "timeoutNow"
        }
    }
}

/// The body of a vote or pre-vote request.
public struct VoteRequest: Hashable, Sendable {
    /// Index and term of the candidate's last log entry, for the up-to-date check (§5.4.1).
    public var lastLogIndex: LogIndex
    public var lastLogTerm: Term
    /// Set when the election was started by TimeoutNow: voters then ignore leader
    /// stickiness, because the old leader has given up its lease.
    public var leadershipTransfer: Bool

    public init(lastLogIndex: LogIndex, lastLogTerm: Term, leadershipTransfer: Bool = false) {
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.leadershipTransfer = leadershipTransfer
    }
}

/// The answer to a vote or pre-vote request.
public struct VoteResponse: Hashable, Sendable {
    public var granted: Bool
    public init(granted: Bool) { self.granted = granted }
}

/// AppendEntries: entries following `(prevLogIndex, prevLogTerm)`, and the leader's commit.
public struct AppendRequest: Hashable, Sendable {
    public var prevLogIndex: LogIndex
    public var prevLogTerm: Term
    public var entries: [Entry]
    public var commit: LogIndex

    public init(prevLogIndex: LogIndex, prevLogTerm: Term, entries: [Entry] = [], commit: LogIndex) {
        self.prevLogIndex = prevLogIndex
        self.prevLogTerm = prevLogTerm
        self.entries = entries
        self.commit = commit
    }
}

/// The follower's answer to AppendEntries.
///
/// On success `index` is the last index the follower now shares with the leader. On
/// rejection `index` is the `prevLogIndex` that did not match, and `(hintIndex, hintTerm)`
/// name the follower's last entry at or below it whose term is at most the leader's
/// `prevLogTerm`, so the leader can skip a whole conflicting term in one round trip.
public struct AppendResponse: Hashable, Sendable {
    public var index: LogIndex
    public var rejected: Bool
    public var hintIndex: LogIndex
    public var hintTerm: Term

    public init(index: LogIndex, rejected: Bool = false, hintIndex: LogIndex = .zero, hintTerm: Term = .zero) {
        self.index = index
        self.rejected = rejected
        self.hintIndex = hintIndex
        self.hintTerm = hintTerm
    }
}

/// A leader heartbeat. `round` increases with every heartbeat the leader sends in its term;
/// the follower echoes it, and the leader learns from a quorum of echoes that it was still
/// leader when that round was sent.
public struct Heartbeat: Hashable, Sendable {
    /// The leader's commit index, capped at what the follower is known to have.
    public var commit: LogIndex
    public var round: UInt64

    public init(commit: LogIndex, round: UInt64) {
        self.commit = commit
        self.round = round
    }
}

/// The follower's echo of a heartbeat round.
public struct HeartbeatResponse: Hashable, Sendable {
    public var round: UInt64
    public init(round: UInt64) { self.round = round }
}
