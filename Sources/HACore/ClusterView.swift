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
    /// `history`: one row per promotion, in timeline order (the order of the promotions, as
    /// timeline numbers are reserved in increasing order). The store's rows can be in another
    /// order: a primary cut off right after its promotion may record its row after a later
    /// promotion's (found by the HA simulator, seed 3783), so readers sort them
    /// (`HistoryRow.inTimelineOrder`).
    public var history: [HistoryRow]
    /// `config`: the dynamic settings.
    public var config: DynamicConfig
    /// `failover`: a pending switchover or failover request.
    public var failover: FailoverRequest?
    /// `sync`: what the primary guarantees about its acknowledged commits (synchronous modes).
    public var sync: SyncState?

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

    /// Whether `history` holds a row for `timeline` and, following `parent`, for each of its
    /// ancestors down to timeline 1 (rows without a parent end the path).
    public func recordsAncestry(of timeline: UInt32) -> Bool {
        guard timeline > 1 else { return true }
        guard let oldest = ancestry(of: timeline).last else { return false }
        return (oldest.parent ?? 1) <= 1
    }

    /// The rows of `timeline` and its ancestors, newest first, following `parent` while the
    /// rows name it; empty if `timeline` has no row.
    public func ancestry(of timeline: UInt32) -> [HistoryRow] {
        var path: [HistoryRow] = []
        var next: UInt32? = timeline
        while let t = next, let row = history.last(where: { $0.timeline == t }), !path.contains(row) {
            path.append(row)
            next = row.parent
        }
        return path
    }
}

/// One promotion, as the `history` key keeps it (Patroni's history rows, with names).
public struct HistoryRow: Hashable, Sendable, Codable {
    /// `rows` sorted by timeline (stable, so rows of one timeline keep their order).
    public static func inTimelineOrder(_ rows: [HistoryRow]) -> [HistoryRow] {
        rows.enumerated().sorted { ($0.element.timeline, $0.offset) < ($1.element.timeline, $1.offset) }.map(\.element)
    }

    /// What the primary names as an ancestor's new primary: the timeline history file does not say.
    public static let unknownPrimary = "unknown"

    /// `rows` with `own` (the primary's own timeline) and a row for each ancestor in `switches`
    /// (timeline → where it forked, from the primary's timeline history file) that `rows`
    /// lacks, in timeline order; nil if nothing is missing. An ancestor whose primary died
    /// before it recorded its row would otherwise leave a gap in every later path, and a
    /// standby on a timeline off that path would not be recognised as diverged (found by the
    /// HA simulator, seed 3757 in off mode).
    public static func completed(_ rows: [HistoryRow], own: HistoryRow, switches: [UInt32: TimelineSwitch]) -> [HistoryRow]? {
        let present = Set(rows.map(\.timeline))
        var added: [HistoryRow] = present.contains(own.timeline) ? [] : [own]
        for (timeline, fork) in switches where timeline != own.timeline && !present.contains(timeline) {
            added.append(HistoryRow(timeline: timeline, lsn: fork.lsn, atUnixMs: own.atUnixMs,
                                    reason: "recorded from timeline \(own.timeline)'s history", oldPrimary: nil,
                                    newPrimary: unknownPrimary, parent: fork.parent))
        }
        return added.isEmpty ? nil : inTimelineOrder(rows + added)
    }

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
    /// The timeline this one forked from (nil in rows written before pgha recorded it). With
    /// unique timeline numbers a new timeline need not fork from the previous row's.
    public var parent: UInt32?

    public init(timeline: UInt32, lsn: LSN, atUnixMs: UInt64, reason: String, oldPrimary: String?, newPrimary: String,
                parent: UInt32? = nil) {
        self.timeline = timeline
        self.parent = parent
        self.lsn = lsn
        self.atUnixMs = atUnixMs
        self.reason = reason
        self.oldPrimary = oldPrimary
        self.newPrimary = newPrimary
    }

    enum CodingKeys: String, CodingKey {
        case timeline, lsn, atUnixMs = "at_ms", reason, oldPrimary = "old_primary", newPrimary = "new_primary", parent
    }
}

/// Where a timeline began: the timeline it forked from and the WAL position of the switch (the
/// last entry of Postgres's `<timeline>.history` file).
public struct TimelineSwitch: Hashable, Sendable {
    public var parent: UInt32
    public var lsn: LSN
    public init(parent: UInt32, lsn: LSN) {
        self.parent = parent
        self.lsn = lsn
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
    /// `off`, `on` or `quorum` (see `SynchronousMode`).
    public var synchronousMode: SynchronousMode = .off
    /// With no synchronous standby available, hold commits (they wait) instead of falling back
    /// to asynchronous replication.
    public var synchronousModeStrict: Bool = false
    /// `on`: how many standbys are synchronous; `quorum`: how many must flush each commit.
    public var synchronousNodeCount: Int = 1
    /// A synchronous standby whose flushed WAL lags the primary's by more than this many bytes
    /// is replaced when another healthy standby exists (-1: never).
    public var maximumLagOnSyncnode: Int64 = -1
    /// A replica on an older timeline than the newest in `history` is never promoted.
    public var checkTimeline: Bool = false
    /// Postgres parameters applied on every member (`postgresql.parameters`, and the per-role
    /// `parameters_primary` / `parameters_replica`).
    public var postgresql: DynamicPostgres = DynamicPostgres()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case maximumLagOnFailover = "maximum_lag_on_failover", primaryStartTimeoutMs = "primary_start_timeout_ms"
        case usePgRewind = "use_pg_rewind", rebuildOnRewindFailure = "rebuild_on_rewind_failure"
        case transferTimeoutMs = "transfer_timeout_ms", pause, switchoverTimeoutMs = "switchover_timeout_ms"
        case synchronousMode = "synchronous_mode", synchronousModeStrict = "synchronous_mode_strict"
        case synchronousNodeCount = "synchronous_node_count", maximumLagOnSyncnode = "maximum_lag_on_syncnode"
        case checkTimeline = "check_timeline", postgresql
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
        synchronousMode = try c.decodeIfPresent(SynchronousMode.self, forKey: .synchronousMode) ?? d.synchronousMode
        synchronousModeStrict = try c.decodeIfPresent(Bool.self, forKey: .synchronousModeStrict) ?? d.synchronousModeStrict
        synchronousNodeCount = try c.decodeIfPresent(Int.self, forKey: .synchronousNodeCount) ?? d.synchronousNodeCount
        guard synchronousNodeCount >= 1 else {
            throw DecodingError.dataCorruptedError(forKey: .synchronousNodeCount, in: c, debugDescription: "synchronous_node_count must be at least 1")
        }
        maximumLagOnSyncnode = try c.decodeIfPresent(Int64.self, forKey: .maximumLagOnSyncnode) ?? d.maximumLagOnSyncnode
        checkTimeline = try c.decodeIfPresent(Bool.self, forKey: .checkTimeline) ?? d.checkTimeline
        postgresql = try c.decodeIfPresent(DynamicPostgres.self, forKey: .postgresql) ?? d.postgresql
    }
}

/// The `postgresql` part of the dynamic configuration: Postgres parameters for every member,
/// and per role. A member's own configuration file overrides them (as in Patroni).
public struct DynamicPostgres: Hashable, Sendable, Codable {
    public var parameters: [String: String] = [:]
    public var parametersPrimary: [String: String] = [:]
    public var parametersReplica: [String: String] = [:]

    public init(parameters: [String: String] = [:], parametersPrimary: [String: String] = [:], parametersReplica: [String: String] = [:]) {
        self.parameters = parameters
        self.parametersPrimary = parametersPrimary
        self.parametersReplica = parametersReplica
    }

    /// The parameters for a member in `primary` (or replica) role: the cluster-wide ones, then
    /// the role's, then `local` (the member's file) on top.
    public func effective(primary: Bool, local: [String: String]) -> [String: String] {
        var p = parameters
        p.merge(primary ? parametersPrimary : parametersReplica) { $1 }
        p.merge(local) { $1 }
        return p
    }

    enum CodingKeys: String, CodingKey {
        case parameters, parametersPrimary = "parameters_primary", parametersReplica = "parameters_replica"
    }

    // Values may be JSON strings, numbers or booleans (`shared_buffers: 128MB`, `work_mem: 4096`,
    // `hot_standby_feedback: true`); other keys of the section are kept by the store, not used here.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        parameters = try Self.scalars(c, .parameters)
        parametersPrimary = try Self.scalars(c, .parametersPrimary)
        parametersReplica = try Self.scalars(c, .parametersReplica)
    }

    private static func scalars(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [String: String] {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return [:] }
        return try c.decode([String: ParameterValue].self, forKey: key).mapValues(\.text)
    }

    /// One parameter value as text.
    struct ParameterValue: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { text = b ? "on" : "off" }
            else if let i = try? c.decode(Int64.self) { text = String(i) }
            else if let d = try? c.decode(Double.self) { text = String(d) }
            else { text = try c.decode(String.self) }
        }
    }
}

extension ClusterView {
    /// The running primary, if exactly one member runs as primary, the `size − 1` others all
    /// stream from it as running standbys, and — in synchronous modes — its `sync` claim names
    /// a standby (so a failover is possible). What the demo, the benchmark and the tests wait for.
    public func healthyPrimary(size: Int) -> MemberStatus? {
        let primaries = members.values.filter { $0.role == .primary && $0.state == .running }
        let streaming = members.values.filter { $0.role == .replica && $0.state == .running && $0.streaming }
        guard primaries.count == 1, streaming.count == size - 1, let primary = primaries.first else { return nil }
        if config.synchronousMode != .off {
            guard let sync, sync.leader == primary.name, sync.quorum > 0 else { return nil }
        }
        return primary
    }
}
