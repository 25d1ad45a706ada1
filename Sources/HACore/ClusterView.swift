/// The cluster as this node's copy of the store shows it (possibly a little stale on a
/// follower; the leader's decisions that must not be stale use compare-and-set writes).
public struct ClusterView: Hashable, Sendable {
    /// `initialize`: the cluster's Postgres system identifier, nil before bootstrap.
    public var systemIdentifier: UInt64?
    /// `members/<name>`: each member's last periodic report, if recent (see `staleMembers`).
    public var members: [String: MemberStatus]
    /// Members whose last report is too old to trust (the agent is down or cut off): what they
    /// last said, for display. Decisions never rely on these.
    public var staleMembers: [String: MemberStatus] = [:]
    /// The member that recorded `lastPrimaryLSN` (the primary at that time).
    public var lastPrimary: String?
    /// `status`: the last primary WAL position the leader recorded.
    public var lastPrimaryLSN: LSN?
    /// `history`: one row per promotion, oldest first.
    public var history: [HistoryRow]
    /// `config`: the dynamic settings.
    public var config: DynamicConfig
    /// `failover`: a pending switchover or failover request.
    public var failover: FailoverRequest?

    public init(systemIdentifier: UInt64? = nil, members: [String: MemberStatus] = [:], lastPrimaryLSN: LSN? = nil,
                history: [HistoryRow] = [], config: DynamicConfig = DynamicConfig()) {
        self.systemIdentifier = systemIdentifier
        self.members = members
        self.lastPrimaryLSN = lastPrimaryLSN
        self.history = history
        self.config = config
    }

    /// The newest timeline a promotion created, if any.
    public var latestTimeline: UInt32? { history.last?.timeline }
}

/// One promotion, as the `history` key keeps it (Patroni's history rows, with names).
public struct HistoryRow: Hashable, Sendable, Codable {
    /// The timeline the promotion started.
    public var timeline: UInt32
    /// The WAL position at which the previous timeline ended (the switch point).
    public var lsn: LSN
    /// Unix milliseconds.
    public var atUnixMs: UInt64
    /// Why: `bootstrap`, `failover`, `switchover`, …
    public var reason: String
    /// The member that was primary before (nil at bootstrap or if unknown).
    public var oldPrimary: String?
    public var newPrimary: String

    public init(timeline: UInt32, lsn: LSN, atUnixMs: UInt64, reason: String, oldPrimary: String?, newPrimary: String) {
        self.timeline = timeline
        self.lsn = lsn
        self.atUnixMs = atUnixMs
        self.reason = reason
        self.oldPrimary = oldPrimary
        self.newPrimary = newPrimary
    }

    enum CodingKeys: String, CodingKey {
        case timeline, lsn, atUnixMs = "at_ms", reason, oldPrimary = "old_primary", newPrimary = "new_primary"
    }
}

/// The dynamic settings kept in the store's `config` key (Patroni's names; edited in a later
/// issue). Defaults are Patroni's where it has the setting.
public struct DynamicConfig: Hashable, Sendable, Codable {
    /// A replica further behind the last known primary WAL position than this is never promoted.
    public var maximumLagOnFailover: UInt64 = 1_048_576
    /// How long the leader waits for its own Postgres to come up as primary before handing
    /// leadership to the best replica (Patroni: 300 s).
    public var primaryStartTimeoutMs: UInt64 = 300_000
    /// Rewind a diverged former primary with pg_rewind (else rebuild it with a base backup).
    public var usePgRewind: Bool = true
    /// When pg_rewind fails, take a fresh base backup into a new directory (the old one is
    /// kept aside until the new one streams).
    public var rebuildOnRewindFailure: Bool = true
    /// How long a leadership transfer to the better candidate may take before this leader
    /// promotes itself instead.
    public var transferTimeoutMs: UInt64 = 3_000
    /// Maintenance mode (Patroni's `pause`): no automatic action — no failover, promotion,
    /// start, rewind or rebuild — except what a switchover or failover request asks. Fencing
    /// still happens: a paused primary whose lease lapses is stopped all the same.
    public var pause: Bool = false
    /// How long a switchover waits for the candidate to receive the old primary's shutdown
    /// checkpoint before it gives up and restarts the old primary.
    public var switchoverTimeoutMs: UInt64 = 10_000

    public init() {}

    enum CodingKeys: String, CodingKey {
        case maximumLagOnFailover = "maximum_lag_on_failover", primaryStartTimeoutMs = "primary_start_timeout_ms"
        case usePgRewind = "use_pg_rewind", rebuildOnRewindFailure = "rebuild_on_rewind_failure"
        case transferTimeoutMs = "transfer_timeout_ms", pause, switchoverTimeoutMs = "switchover_timeout_ms"
    }

    // Every key optional: a partial `config` value keeps the defaults for what it omits.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DynamicConfig()
        maximumLagOnFailover = try c.decodeIfPresent(UInt64.self, forKey: .maximumLagOnFailover) ?? d.maximumLagOnFailover
        primaryStartTimeoutMs = try c.decodeIfPresent(UInt64.self, forKey: .primaryStartTimeoutMs) ?? d.primaryStartTimeoutMs
        usePgRewind = try c.decodeIfPresent(Bool.self, forKey: .usePgRewind) ?? d.usePgRewind
        rebuildOnRewindFailure = try c.decodeIfPresent(Bool.self, forKey: .rebuildOnRewindFailure) ?? d.rebuildOnRewindFailure
        transferTimeoutMs = try c.decodeIfPresent(UInt64.self, forKey: .transferTimeoutMs) ?? d.transferTimeoutMs
        pause = try c.decodeIfPresent(Bool.self, forKey: .pause) ?? d.pause
        switchoverTimeoutMs = try c.decodeIfPresent(UInt64.self, forKey: .switchoverTimeoutMs) ?? d.switchoverTimeoutMs
    }
}

extension ClusterView {
    /// The running primary, if exactly one member runs as primary and the `size − 1` others
    /// all stream from it as running standbys (what the demo, the benchmark and the tests wait for).
    public func healthyPrimary(size: Int) -> MemberStatus? {
        let primaries = members.values.filter { $0.role == .primary && $0.state == .running }
        let streaming = members.values.filter { $0.role == .replica && $0.state == .running && $0.streaming }
        guard primaries.count == 1, streaming.count == size - 1 else { return nil }
        return primaries.first
    }
}
