/// A leader's lease: a period during which no other node can become leader, so the leader
/// may serve reads locally and — in pgha — keep its Postgres writable.
///
/// **What is guaranteed.** While `RaftNode.leaderLease` is non-nil on a node, no other node
/// of the cluster is leader with a lease in any term, provided the clock-rate assumption
/// below holds. The lease of round `r` runs from the leader-clock tick at which the leader
/// *sent* `r` for `RaftConfig.leaseTicks`, and is granted only once a quorum of voters has
/// echoed `r` (or a later round).
///
/// **Why.** A voter that echoes a round promises not to help elect anyone else for an
/// election timeout (`RaftConfig.electionTicks`) counted from the moment it received it.
/// The promise is kept by *leader stickiness*: every node records the local tick of its last
/// contact with a leader (an append, heartbeat or snapshot; for a leader, each of its own
/// ticks), apart from the term's bookkeeping, and refuses every vote and pre-vote request
/// while that contact is younger than an election timeout — whatever the request's term and
/// whatever terms the node has seen since. Terms are deliberately not part of it: a late
/// message of a higher term (a rejected pre-vote response from an old election race, a
/// vote response, an append response) can move a follower to a new term with no known
/// leader, and if that cleared the promise, a second leader could be elected inside the
/// first one's lease (the bug the `stickiness-lost-on-higher-term` planted bug keeps). For
/// the same reason a node refuses votes for an election timeout after it starts: it has
/// forgotten whom it heard from. Any quorum that elects a new leader intersects the quorum
/// that echoed `r`, and each member of the intersection refuses until `electionTicks` after
/// receiving `r`, which is after the lease lapsed at `sent(r) + leaseTicks`.
///
/// A rejected pre-vote response of a higher term is only acted on by a pre-candidate (it
/// learns the term it lags, as etcd does); any other node ignores it. Etcd's `Step` adopts
/// the term in every role, and CockroachDB's leader leases (cockroach#123189, "leader
/// fortification") pin the promise to the leader rather than the term for the reason above;
/// here safety does not depend on that choice, because stickiness is judged by contact time,
/// but ignoring the stale term spares a follower a needless term change that would make it
/// reject, and so depose, a healthy leader.
///
/// Requests from a leadership transfer (TimeoutNow) are exempt; the transferring leader
/// gives up its lease when the transfer starts.
///
/// **Clock assumption.** Every node's ticks advance at the same rate up to a drift that the
/// margin `electionTicks - leaseTicks - 1` absorbs (the `- 1` for tick granularity: the
/// follower's receipt may fall just before one of its ticks). With the defaults (10 and 6
/// ticks of 100 ms) that is 300 ms over an election timeout of 1 s: relative drift up to
/// 30 %. A runtime must deliver ticks it missed (a stall) before judging the lease, and
/// should check the lease against a monotonic deadline (`RaftRuntime.leaderLease()` gives
/// one) rather than against ticks that a stalled loop has not delivered yet.
public struct LeaderLease: Hashable, Sendable {
    public var term: Term
    /// The leader-clock tick at which the lease lapses (exclusive).
    public var expiresAtTick: UInt64
    /// Ticks left from the node's current tick.
    public var remainingTicks: UInt64
}
