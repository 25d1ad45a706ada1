import RaftCore

/// A violated safety or liveness property, with where and when.
public struct Violation: Hashable, Sendable, CustomStringConvertible {
    /// The property's name, e.g. "Election Safety".
    public var property: String
    /// The simulated time unit at which it was detected.
    public var time: Int
    public var detail: String
    public var description: String { "\(property) violated at t=\(time): \(detail)" }
}

/// The Raft safety properties (Raft paper Figure 3), checked as the simulation runs, from
/// what an omniscient observer sees of every node.
struct SafetyChecker {
    private struct EntryKey: Hashable {
        var index: LogIndex
        var term: Term
    }

    /// Election Safety: the one leader of each term.
    private var leaders: [Term: NodeSlot] = [:]
    /// Log Matching: every (index, term) ever stored, with its payload and predecessor term.
    private var stored: [EntryKey: (payload: Entry.Payload, prevTerm: Term?)] = [:]
    /// State Machine Safety: what was applied at each index, anywhere.
    private(set) var applied: [LogIndex: Entry] = [:]
    /// For each applied index, an upper bound on the term in which it was committed: the
    /// lowest current term of any node that applied it (a node learns of a commit only from
    /// a leader of its own term or an earlier one).
    private var commitTermBound: [LogIndex: Term] = [:]
    private(set) var maxApplied: LogIndex = .zero
    /// Leader Append-Only: the tail of each leader's log when last seen.
    private var leaderTails: [NodeSlot: (term: Term, index: LogIndex, entryTerm: Term)] = [:]
    /// Commit never moves back within one incarnation.
    private var commitFloor: [NodeSlot: LogIndex] = [:]
    /// Every vote granted, by (voter, its disk generation, term).
    private var votes: [VoteKey: NodeID] = [:]
    private struct VoteKey: Hashable {
        var voter: NodeSlot
        var disk: Int
        var term: Term
    }

    var leadersElected: Int { leaders.count }

    mutating func observeLeader(_ slot: NodeSlot, _ node: RaftNode, time: Int) -> Violation? {
        let term = node.currentTerm
        if let other = leaders[term] {
            if other != slot {
                return Violation(property: "Election Safety", time: time,
                                 detail: "nodes \(other) and \(slot) are both leader of term \(term.rawValue)")
            }
        } else {
            leaders[term] = slot
            if let v = checkCompleteness(slot, node, time: time) { return v }
        }
        let last = node.lastIndex
        if let tail = leaderTails[slot], tail.term == term {
            if last < tail.index || node.term(at: tail.index) != tail.entryTerm {
                return Violation(property: "Leader Append-Only", time: time,
                                 detail: "leader \(slot) of term \(term.rawValue) had \(tail.index)@\(tail.entryTerm.rawValue), now last=\(last) term there=\(node.term(at: tail.index).map { "\($0.rawValue)" } ?? "none")")
            }
        }
        leaderTails[slot] = (term, last, node.term(at: last) ?? .zero)
        return nil
    }

    /// Leader Completeness: a leader of term T holds every entry committed in a term before
    /// T. (A leader of an older term can still be elected late, after a newer leader
    /// committed entries; it need not hold those.)
    private func checkCompleteness(_ slot: NodeSlot, _ node: RaftNode, time: Int) -> Violation? {
        guard maxApplied > .zero else { return nil }
        var i: UInt64 = 1
        while i <= maxApplied.rawValue {
            let index = LogIndex(i)
            if let e = applied[index], let bound = commitTermBound[index], bound < node.currentTerm {
                if index > node.lastIndex {
                    return Violation(property: "Leader Completeness", time: time,
                                     detail: "leader \(slot) of term \(node.currentTerm.rawValue) lacks committed entry \(e) (its last index is \(node.lastIndex.rawValue))")
                }
                if let t = node.term(at: index), t != e.term {
                    return Violation(property: "Leader Completeness", time: time,
                                     detail: "leader \(slot) of term \(node.currentTerm.rawValue) has term \(t.rawValue) at \(index.rawValue) where \(e) was committed")
                }
            }
            i += 1
        }
        return nil
    }

    /// Log Matching: an entry with the same index and term has the same payload and the same
    /// predecessor everywhere.
    mutating func observeStored(_ slot: NodeSlot, _ e: Entry, prevTerm: Term?, time: Int) -> Violation? {
        let key = EntryKey(index: e.index, term: e.term)
        if let known = stored[key] {
            if known.payload != e.payload {
                return Violation(property: "Log Matching", time: time,
                                 detail: "node \(slot) stores \(e) but another node stored a different entry at \(e.index.rawValue)@\(e.term.rawValue)")
            }
            if let p = prevTerm, let q = known.prevTerm, p != q {
                return Violation(property: "Log Matching", time: time,
                                 detail: "node \(slot) has \(e.index.rawValue)@\(e.term.rawValue) after term \(p.rawValue), another node after term \(q.rawValue)")
            }
            if known.prevTerm == nil, let p = prevTerm { stored[key] = (e.payload, p) }
        } else {
            stored[key] = (e.payload, prevTerm)
        }
        return nil
    }

    /// State Machine Safety: every node applies the same entry at each index.
    mutating func observeApplied(_ slot: NodeSlot, _ e: Entry, term: Term, time: Int) -> Violation? {
        commitTermBound[e.index] = min(commitTermBound[e.index] ?? term, term)
        if let known = applied[e.index] {
            if known != e {
                return Violation(property: "State Machine Safety", time: time,
                                 detail: "node \(slot) applied \(e) at \(e.index.rawValue), another node applied \(known)")
            }
            return nil
        }
        applied[e.index] = e
        if e.index > maxApplied { maxApplied = e.index }
        return nil
    }

    mutating func observeCommit(_ slot: NodeSlot, _ commit: LogIndex, time: Int) -> Violation? {
        if let floor = commitFloor[slot], commit < floor {
            return Violation(property: "Commit Monotonicity", time: time,
                             detail: "node \(slot) commit index went back from \(floor.rawValue) to \(commit.rawValue) without a crash")
        }
        commitFloor[slot] = commit
        return nil
    }

    /// At most one vote per node per term, across restarts (the vote is durable). A node
    /// that lost its disk is a new voter identity: it came back only after being removed.
    mutating func observeVote(by voter: NodeSlot, disk: Int, term: Term, for candidate: NodeID, time: Int) -> Violation? {
        let key = VoteKey(voter: voter, disk: disk, term: term)
        if let earlier = votes[key], earlier != candidate {
            return Violation(property: "One Vote Per Term", time: time,
                             detail: "node \(voter) voted for \(earlier) and for \(candidate) in term \(term.rawValue)")
        }
        votes[key] = candidate
        return nil
    }

    mutating func forgetIncarnation(_ slot: NodeSlot) {
        commitFloor[slot] = nil
        leaderTails[slot] = nil
    }
}

extension SafetyChecker {
    /// Durable Promises: a node may only acknowledge entries, or grant a vote, that its
    /// storage already holds. (Raft's proofs assume it; a crash right after an early
    /// promise loses committed entries or allows a second vote in the same term.)
    func checkPromise(_ m: Message, sender node: RaftNode, storage: MemoryStorage, time: Int) -> Violation? {
        switch m.body {
        case .appendResponse(let r) where !r.rejected && r.index > storage.latestSnapshot.metadata.index:
            // Indices covered by the stored snapshot are durable by definition.
            let stored = r.index <= storage.lastIndex() ? (try? storage.term(of: r.index)) : nil
            // With asynchronous persistence the node may meanwhile have accepted a snapshot
            // that covers the index (its log no longer has it): a committed index is safe.
            let current = node.term(at: r.index)
            let coveredBySnapshot = current == nil && r.index <= node.commitIndex && stored != nil
            if !coveredBySnapshot && (stored == nil || stored != current) {
                return Violation(property: "Durable Promises", time: time,
                                 detail: "node \(m.from) acknowledged index \(r.index.rawValue) to \(m.to) before storing it (stored last index \(storage.lastIndex().rawValue))")
            }
        case .voteResponse(let r) where r.granted:
            let hs = storage.hardState
            if hs.term != m.term || hs.vote != m.to {
                return Violation(property: "Durable Promises", time: time,
                                 detail: "node \(m.from) granted its term-\(m.term.rawValue) vote to \(m.to) before storing it (stored \(hs))")
            }
        default:
            break
        }
        return nil
    }
}
