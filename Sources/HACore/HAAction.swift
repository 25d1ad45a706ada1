/// One thing the HA decision asks the executor to do. The executor performs a decision's
/// actions in order and stops at the first that fails (the next decision sees the result).
public enum HAAction: Hashable, Sendable {
    /// Allow or forbid this node to start Raft elections (it keeps voting). Only a node whose
    /// Postgres could become a sound primary may campaign.
    case setMayCampaign(Bool, reason: String)
    /// New cluster, this node is leader with an empty data directory: `initdb
    /// --data-checksums`, start as primary, create the replication role, write `initialize`
    /// (compare-and-set: only if absent) and the first `history` row.
    case bootstrap
    /// The leader found no `initialize` key but a data directory of its own: record its system
    /// identifier as the cluster's (compare-and-set) and go on as primary.
    case adoptExistingCluster(systemIdentifier: UInt64)
    /// Start the local Postgres as primary: the leader restarting its own crashed or stopped
    /// primary in place (it holds the lease; nobody else can be primary).
    case startPrimary
    /// Start the local Postgres as a standby following `leader` (nil: in recovery, following
    /// nobody yet).
    case startReplica(following: String?)
    /// Repoint the running standby's `primary_conninfo` and slot at `leader` (a reload).
    case follow(String)
    /// Ask every member for its fresh status with a short deadline (failover step 2); the
    /// answers come back as `HAInput.statusRound`.
    case gatherStatus(term: UInt64)
    /// Promote the local standby (`pg_promote`, which first replays what it received), then
    /// record a `history` row.
    case promote(reason: String, oldPrimary: String?)
    /// Stop the local primary immediately: it may no longer accept writes (no lease, or not
    /// the leader). The lease timer fences on its own; this is the decision's copy.
    case fence(reason: String)
    /// Rewind the local data directory (a former primary) with pg_rewind from `source`, then
    /// start it as a standby of `source`.
    case rewind(from: String)
    /// Take a fresh base backup from `source` into the data directory; an existing directory is
    /// moved aside and kept until the new one streams.
    case rebuild(from: String)
    /// Hand Raft leadership to `member` (raft id `raftID`), the better primary.
    case transferLeadership(to: String, raftID: UInt64, reason: String)
    /// Planned switchover on the running primary: stop it cleanly (shutdown checkpoint), wait
    /// until `member` has received that checkpoint, then hand Raft leadership to it; it
    /// promotes as the request's candidate. If any step fails, the request is dropped and the
    /// next decision restarts this primary in place.
    case switchover(to: String, raftID: UInt64, kind: FailoverRequest.Kind)
    /// Delete the store's `failover` request (carried out, or it cannot be); `reason` is logged.
    case clearFailover(reason: String)
    /// On the primary: create a physical replication slot for each name in `slots` and drop
    /// pgha's slots not in it.
    case syncSlots(Set<String>)
    /// On the primary: set `synchronous_standby_names` to `names` (rendered into pgha's
    /// `postgresql.conf`, then a reload).
    case setSynchronousStandbyNames(String, reason: String)
    /// On the primary: write the store's `sync` key (nil: delete it).
    case writeSync(SyncState?, reason: String)
    /// On the primary: append the row of the promotion that started its `timeline` to
    /// `history` (with the switch point from Postgres's timeline history file), unless a row for
    /// it exists. The promotion appends it itself; this repairs a row it could not write, without
    /// which a diverged standby is not recognised.
    case recordPromotion(timeline: UInt32)
    /// Refuse to run Postgres on this data directory; `reason` says why and what to do.
    case refuse(reason: String)
    /// Nothing to change now; `reason` says what the node waits for (logged when it changes).
    case wait(reason: String)
}

/// What happened to an action the executor ran, fed back with `HANode.record(_:)`.
public enum HAOutcome: Hashable, Sendable {
    /// pg_rewind ran and failed: the histories cannot be rewound (rebuild next, if allowed).
    case rewindFailed(at: Instant, reason: String)
    /// The rewind could not start (its source was unreachable): retried after a pause.
    case rewindDeferred(at: Instant, reason: String)
    case rebuildFailed(at: Instant, reason: String)
    case startFailed(at: Instant, reason: String)
    case promoteFailed(at: Instant, reason: String)
    /// The `pre_promote` hook refused the promotion: another candidate is tried.
    case promoteRefused(at: Instant, reason: String)
    case bootstrapFailed(at: Instant, reason: String)
    /// A rewind or rebuild succeeded; failures recorded before are forgotten.
    case repaired
}

extension HAAction {
    /// The action's name, for logs and the maintenance-mode message.
    public var name: String {
        switch self {
        case .setMayCampaign: return "setMayCampaign"
        case .bootstrap: return "bootstrap"
        case .adoptExistingCluster: return "adoptExistingCluster"
        case .startPrimary: return "startPrimary"
        case .startReplica: return "startReplica"
        case .follow: return "follow"
        case .gatherStatus: return "gatherStatus"
        case .promote: return "promote"
        case .fence: return "fence"
        case .rewind: return "rewind"
        case .rebuild: return "rebuild"
        case .transferLeadership: return "transferLeadership"
        case .switchover: return "switchover"
        case .clearFailover: return "clearFailover"
        case .syncSlots: return "syncSlots"
        case .setSynchronousStandbyNames: return "setSynchronousStandbyNames"
        case .writeSync: return "writeSync"
        case .recordPromotion: return "recordPromotion"
        case .refuse: return "refuse"
        case .wait: return "wait"
        }
    }
}
