/// One node's Raft state machine: pure, deterministic, single-threaded.
///
/// `RaftNode` performs no I/O and reads no clock. The application drives it:
/// - `tick()` at a fixed interval (the unit of every timeout in `RaftConfig`);
/// - `step(_:)` with every message received from a peer;
/// - `propose(_:)`, `proposeConfigChange(_:)`, `readIndex(requestID:)`,
///   `transferLeadership(to:)` on behalf of clients;
/// - `ready()` to collect what to persist, send and apply, then `advance(_:)` once done
///   (see `Ready` for the required order).
///
/// Guarantees, given storage that keeps what it was handed and an application that follows the
/// `Ready` contract: at most one leader per term (Election Safety), a leader never overwrites
/// its log, logs that share an entry share every earlier one, every committed entry is in
/// the log of every later leader, and no two nodes apply different entries at the same index
/// (Raft paper Figure 3). Malformed or out-of-range messages are dropped and counted in
/// `counters`; they never trap.
///
/// Features: pre-vote and check-quorum with leader stickiness; pipelined, flow-controlled
/// replication with fast conflict back-off; commit only by counting current-term entries;
/// ReadIndex and lease-based reads; a `LeaderLease`; leadership transfer; single-server
/// membership changes and learners; snapshots with InstallSnapshot.
public struct RaftNode {
    public let config: RaftConfig
    var log: RaftLog
    var term: Term
    var vote: NodeID?
    var role: Role = .follower
    var leader: NodeID?
    var tracker: ProgressTracker

    /// The membership of the snapshot the log starts from, and its index.
    var membershipBase: Membership
    var membershipBaseIndex: LogIndex
    /// Membership changes in the log after the base, with the membership each produces.
    var membershipChanges: [(index: LogIndex, membership: Membership)] = []

    var mayCampaign: Bool
    /// Rejoining after data loss and not yet caught up (see `RaftConfig.rejoinAfterDataLoss`).
    var rejoining: Bool
    /// Ticks since this node was created (its local clock).
    var now: UInt64 = 0
    /// The local tick of the last append, heartbeat or snapshot from a leader (or of the last
    /// tick as leader), whatever the term. Kept apart from the term's bookkeeping: a change of
    /// term never clears it. Leader stickiness and the lease rest on it.
    var lastLeaderContact: UInt64?
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    var random: SplitMix64

    // Leader state.
    var transfer: LeadershipTransfer?
    var round: UInt64 = 0
    var pendingRounds: [PendingRound] = []
    var leaseExpiry: UInt64 = 0
    /// The round whose quorum echo set `leaseExpiry`.
    var leaseRound: UInt64 = 0
    var leaseRevoked = false
    var readsAwaitingCommit: [(requestID: UInt64, allowLease: Bool)] = []
    /// Reads that need a quorum round; they share the next round sent (one per `Ready` at
    /// most, or the next heartbeat).
    var readsForNextRound: [ReadState] = []

    // Output not yet collected by `ready()`.
    var readStates: [ReadState] = []
    var messages: [Message] = []
    var messagesAfterPersist: [Message] = []
    var lastHardState: HardState
    var lastSoftState: SoftState
    var readyOutstanding = false
    /// The outstanding `Ready` changes the term or vote (so nothing may go out early).
    var outstandingElectoralChange = false

    /// Set when reading the storage failed for entries it had confirmed (compacted past the
    /// applied index, or lost): the application must stop this node; it applies nothing more.
    public internal(set) var storageFailure: StorageError?

    /// What the node dropped or refused, by reason.
    public internal(set) var counters = RaftCounters()

    /// Restores a node from `storage` (its hard state, snapshot and log), or starts a fresh
    /// one on empty storage. A restarted node neither votes nor campaigns for an election
    /// timeout: it has forgotten which leader it promised not to undermine.
    public init(config: RaftConfig, storage: any RaftStorage) throws {
        try config.validate()
        self.config = config
        let (hardState, baseMembership) = try storage.initialState()
        log = RaftLog(storage: storage)
        membershipBase = baseMembership
        membershipBaseIndex = storage.firstIndex() - 1
        tracker = ProgressTracker(membership: baseMembership, maxInflight: config.maxInflightMessages,
                                  maxInflightBytes: config.maxInflightBytes)
        mayCampaign = config.mayCampaign
        rejoining = config.rejoinAfterDataLoss
        random = SplitMix64(seed: config.randomSeed)
        term = hardState.term
        vote = hardState.vote
        // A commit index past the end of the log (an unclean stop that lost the tail) is
        // clamped rather than trusted.
        log.commit(to: min(hardState.commit, log.lastIndex))
        lastHardState = hardState
        lastSoftState = SoftState(role: .follower, leader: nil)

        let first = storage.firstIndex(), last = storage.lastIndex()
        if first <= last {
            var low = first
            while low <= last {
                let batch = try storage.entries(from: low, to: last + 1, maxBytes: 8 << 20)
                guard let end = batch.last else { break }
                recordMembershipChanges(in: batch[...])
                low = end.index + 1
            }
        }
        tracker.setMembership(currentMembership, next: log.lastIndex + 1)
        becomeFollower(term: term, leader: nil)
    }

    // MARK: Observing

    /// This node's id.
    public var id: NodeID { config.id }
    /// The current term.
    public var currentTerm: Term { term }
    /// The role in the current term.
    public var currentRole: Role { role }
    /// The leader this node knows of in the current term.
    public var currentLeader: NodeID? { leader }
    /// The highest index known committed.
    public var commitIndex: LogIndex { log.committed }
    /// The highest index the application has confirmed applied.
    public var appliedIndex: LogIndex { log.applied }
    /// The index of the last entry in the log (persisted or not).
    public var lastIndex: LogIndex { log.lastIndex }
    /// The term of the last entry in the log.
    public var lastTerm: Term { log.lastTerm }
    /// The membership in force on this node: the latest one in its log, committed or not.
    public var membership: Membership { tracker.membership }
    /// This node's local clock, in ticks since it was created.
    public var localTick: UInt64 { now }
    /// The hard state as of now (persisted or about to be).
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }

    /// The term of the entry at `index`, if the node still has it.
    public func term(at index: LogIndex) -> Term? { log.term(of: index) }

    /// The membership in force at `index`, for the application to record in a snapshot it
    /// takes there. Nil if `index` is before the snapshot this node started from (or last
    /// installed); indices compacted since are still answered correctly.
    public func membership(atIndex index: LogIndex) -> Membership? {
        if index < membershipBaseIndex { return nil }
        return membershipChanges.last(where: { $0.index <= index })?.membership ?? membershipBase
    }

    /// Whether this node is the leader and holds a lease that a quorum renewed; nil otherwise.
    /// Postgres may be writable only while this is non-nil.
    public var leaderLease: LeaderLease? {
        guard role == .leader, !leaseRevoked, leaseExpiry > now else { return nil }
        return LeaderLease(term: term, expiresAtTick: leaseExpiry, remainingTicks: leaseExpiry - now)
    }

    /// Whether this node may start an election right now if its timer fired.
    public var isPromotable: Bool {
        mayCampaign && !rejoining && tracker.membership.voters.contains(id) && log.unstable.snapshot == nil
    }

    /// Whether this node rejoins after losing its data and has not yet caught up with a
    /// leader's commit index: it neither votes nor campaigns meanwhile.
    public var isRejoining: Bool { rejoining }

    // MARK: Driving

    /// Advances the local clock by one tick: followers and candidates count towards an
    /// election; a leader sends heartbeats, checks that a quorum is still active and times out
    /// a leadership transfer.
    public mutating func tick() {
        now &+= 1
        if role == .leader {
            tickLeader()
        } else {
            tickElection()
        }
    }

    /// Handles one message from a peer. Messages for another node, from the future of a
    /// malformed log, or otherwise invalid are dropped and counted; they never trap.
    public mutating func step(_ m: Message) {
        guard m.to == id, m.from != id, m.from.rawValue != 0 else {
            counters.droppedMisaddressed += 1
            return
        }
        guard m.term > .zero else {
            counters.droppedMalformed += 1
            return
        }
        let oldStickiness = config.plantedBugs.contains(.stickinessLostOnHigherTerm)
        if m.term >= term {
            switch m.body {
            case .preVote(let r), .vote(let r):
                if refusesVote(r, term: m.term, oldRule: oldStickiness) { return }
            default:
                break
            }
        }
        if m.term > term {
            switch m.body {
            case .preVote:
                break  // a pre-vote never changes our term
            case .preVoteResponse(let r) where r.granted:
                break  // granted pre-votes carry the term we would campaign in
            case .preVoteResponse where role != .preCandidate && !oldStickiness:
                // A rejection of a pre-vote we no longer run: adopting its term would only
                // unsettle this node (see `LeaderLease` for why the lease does not depend on it).
                counters.droppedStale += 1
                return
            case .append, .heartbeat, .installSnapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: nil)
            }
        } else if m.term < term {
            switch m.body {
            case .append, .heartbeat:
                // Tell a deposed leader about the newer term so it steps down (this also
                // unsticks a node partitioned with a stale term under check-quorum).
                send(to: m.from, .appendResponse(AppendResponse(index: .zero)), afterPersist: true)
            case .preVote:
                send(to: m.from, .preVoteResponse(VoteResponse(granted: false)), afterPersist: false)
            default:
                counters.droppedStale += 1
            }
            return
        }

        switch m.body {
        case .preVote(let r):
            handleVoteRequest(m, r, isPreVote: true)
        case .vote(let r):
            handleVoteRequest(m, r, isPreVote: false)
        default:
            switch role {
            case .leader: stepLeader(m)
            case .candidate, .preCandidate: stepCandidate(m)
            case .follower: stepFollower(m)
            }
        }
    }

    /// Allows or forbids this node to start elections (it still votes and replicates). A
    /// leader that may no longer campaign stays leader; hand leadership over with
    /// `transferLeadership(to:)`.
    public mutating func setMayCampaign(_ allowed: Bool) {
        mayCampaign = allowed
    }

    // MARK: Internals shared by the aspects

    mutating func send(to: NodeID, _ body: MessageBody, term: Term? = nil, afterPersist: Bool) {
        let m = Message(from: id, to: to, term: term ?? self.term, body: body)
        if afterPersist {
            messagesAfterPersist.append(m)
        } else {
            messages.append(m)
        }
    }

    private mutating func stepFollower(_ m: Message) {
        switch m.body {
        case .append(let a):
            electionElapsed = 0
            leader = m.from
            lastLeaderContact = now
            handleAppend(from: m.from, term: m.term, a)
        case .heartbeat(let h):
            electionElapsed = 0
            leader = m.from
            lastLeaderContact = now
            handleHeartbeat(from: m.from, h)
        case .installSnapshot(let s):
            electionElapsed = 0
            leader = m.from
            lastLeaderContact = now
            handleSnapshot(from: m.from, term: m.term, s)
        case .timeoutNow:
            if isPromotable {
                campaign(.transfer)
            } else {
                counters.droppedUnexpected += 1
            }
        default:
            counters.droppedStale += 1
        }
    }

    private mutating func stepCandidate(_ m: Message) {
        switch m.body {
        case .preVoteResponse(let r) where role == .preCandidate:
            recordVote(from: m.from, granted: r.granted)
        case .voteResponse(let r) where role == .candidate:
            recordVote(from: m.from, granted: r.granted)
        case .append, .heartbeat, .installSnapshot:
            // A leader exists in this term.
            becomeFollower(term: m.term, leader: m.from)
            stepFollower(m)
        case .timeoutNow:
            counters.droppedUnexpected += 1
        default:
            counters.droppedStale += 1
        }
    }

    private mutating func stepLeader(_ m: Message) {
        guard tracker.progress[m.from] != nil else {
            counters.droppedStale += 1
            return
        }
        switch m.body {
        case .appendResponse(let r):
            handleAppendResponse(from: m.from, r)
        case .heartbeatResponse(let r):
            handleHeartbeatResponse(from: m.from, r)
        case .voteResponse, .preVoteResponse:
            counters.droppedStale += 1
        case .append, .heartbeat, .installSnapshot, .timeoutNow:
            counters.droppedUnexpected += 1
        case .preVote, .vote:
            break  // handled in step
        }
    }

    private mutating func tickLeader() {
        // A leader is in contact with itself: once deposed it still refuses votes for an
        // election timeout, as its followers do.
        lastLeaderContact = now
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if !tracker.quorumActive(me: id) {
                becomeFollower(term: term, leader: nil)
                return
            }
            tracker.resetRecentActive(except: id)
        }
        if transfer != nil {
            transfer!.elapsed += 1
            if transfer!.elapsed >= config.electionTicks {
                abortTransfer()
                if role != .leader { return }
            }
        }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            startRound(reads: [])
        }
    }

    private mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout && now >= UInt64(config.electionTicks) {
            electionElapsed = 0
            campaign(config.preVote ? .preElection : .election)
        }
    }
}

/// A leadership transfer in progress.
struct LeadershipTransfer {
    var target: NodeID
    var elapsed = 0
    var timeoutNowSent = false
}

/// A heartbeat round the leader sent and a quorum has not yet echoed, with the reads waiting
/// on it.
struct PendingRound {
    var round: UInt64
    var sentAt: UInt64
    var reads: [ReadState]
}
