/// Counts of events the node dealt with without acting on them: dropped messages and the
/// like. Bad input never traps; it ends up here.
public struct RaftCounters: Hashable, Sendable {
    /// Messages not addressed to this node, or from itself.
    public var droppedMisaddressed = 0
    /// Messages that make no sense: term zero, out-of-range indices, malformed entry runs, a
    /// rewrite of committed entries.
    public var droppedMalformed = 0
    /// Messages from an older term, or responses that arrive after the state they answer.
    public var droppedStale = 0
    /// Vote requests ignored because a leader was heard from recently or the node restarted
    /// recently (lease protection).
    public var votesRefusedInLease = 0
    /// Vote requests refused because this node rejoins after losing its data and has not yet
    /// caught up with a leader's commit index.
    public var votesRefusedWhileRejoining = 0
    /// Messages the node's role does not handle (for example an append to a leader of the
    /// same term).
    public var droppedUnexpected = 0
    /// Outgoing messages dropped at `ready()` because the node moved to a newer term after
    /// writing them (they could promise entries that were replaced before being persisted).
    public var droppedOutdatedReplies = 0
    /// Proposals refused by `propose`.
    public var proposalsRefused = 0
    /// Rejections from a follower whose log ends below the index it had acknowledged (it lost
    /// entries, or the answer was stale); the leader probes it again from there.
    public var followerLogRegressions = 0
    /// Reads of the storage that failed (see `RaftNode.storageFailure`).
    public var storageReadFailures = 0
    /// Pending reads dropped because the node lost leadership.
    public var readsDropped = 0
    public init() {}
}
