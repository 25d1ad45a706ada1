/// The leader's view of one member's log (as etcd's `tracker/progress.go`).
///
/// - `probe`: the leader does not know where the follower's log ends; it sends one append at
///   a time and waits for the answer (or the next heartbeat) before sending another.
/// - `replicate`: the follower is known to match up to `match`; the leader streams appends
///   optimistically, up to the in-flight window.
/// - `snapshot`: a snapshot at `pendingSnapshot` is on its way; nothing else is sent until
///   the follower answers or the attempt is given up.
struct Progress: Equatable {
    enum State: Equatable, CustomStringConvertible {
        case probe, replicate, snapshot
        var description: String {
            switch self {
            case .probe: return "probe"
            case .replicate: return "replicate"
            case .snapshot: return "snapshot"
            }
        }
    }

    var match: LogIndex = .zero
    var next: LogIndex
    var state: State = .probe
    /// In probe state: an append was sent and its answer has not arrived.
    var probeSent = false
    var pendingSnapshot: LogIndex = .zero
    /// Leader tick at which the pending snapshot was sent (to retry a lost one).
    var snapshotSentAt: UInt64 = 0
    var inflights: Inflights
    /// Heard from since the last check-quorum round.
    var recentActive = false
    var isLearner: Bool
    /// The highest heartbeat round this member has echoed in the leader's term.
    var ackedRound: UInt64 = 0
    /// Leader tick at which `match` was last lowered by `regress` (rate limit).
    var regressedAt: UInt64?
    /// The highest commit index sent to this member (to tell it promptly when it lags).
    var sentCommit: LogIndex = .zero

    init(next: LogIndex, isLearner: Bool, maxInflight: Int, maxInflightBytes: Int) {
        self.next = next
        self.isLearner = isLearner
        self.inflights = Inflights(maxCount: maxInflight, maxBytes: maxInflightBytes)
    }

    /// Whether the leader must hold back appends to this member.
    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            next = max(match + 1, pendingSnapshot + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        pendingSnapshot = .zero
        inflights.reset()
    }

    mutating func becomeReplicate() {
        state = .replicate
        probeSent = false
        pendingSnapshot = .zero
        next = match + 1
        inflights.reset()
    }

    mutating func becomeSnapshot(_ index: LogIndex, at tick: UInt64) {
        state = .snapshot
        probeSent = false
        pendingSnapshot = index
        snapshotSentAt = tick
        inflights.reset()
    }

    /// Records that an append with entries up to `last` (weighing `bytes`) was sent.
    mutating func sentEntries(last: LogIndex?, bytes: Int) {
        switch state {
        case .replicate:
            if let last {
                next = last + 1
                inflights.add(last, size: bytes)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            break
        }
    }

    /// Raises `match` to `index` if it is higher. Returns whether it moved. Always re-opens
    /// a paused probe.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index + 1)
        return updated
    }

    /// Lowers `match` to `index` after the follower reported a log that ends below it, and
    /// probes from there.
    mutating func regress(to index: LogIndex, at tick: UInt64) {
        regressedAt = tick
        match = min(match, index)
        sentCommit = min(sentCommit, index)
        if state == .snapshot { pendingSnapshot = .zero }
        state = .probe
        next = match + 1
        probeSent = false
        inflights.reset()
    }

    /// Handles a rejection of the append whose previous index was `rejected`, moving `next`
    /// back to `hint + 1`. Returns false if the rejection is stale (ignored).
    mutating func maybeDecrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        // A follower cannot reject an index it already matched: such an answer is stale
        // (and answering it again would ping-pong forever).
        if rejected <= match { return false }
        if state == .replicate {
            next = match + 1
            return true
        }
        // In probe state only the rejection of the last probe counts.
        if next - 1 != rejected { return false }
        next = max(min(rejected, hint + 1), match + 1)
        probeSent = false
        return true
    }
}
