/// What a member reports about itself: stored (JSON) under `members/<name>` on a period, and
/// answered directly to a new leader's status round. Field names follow Patroni's
/// `/patroni` and member keys where the concept is the same.
public struct MemberStatus: Hashable, Sendable, Codable {
    /// The member's name (unique in the cluster).
    public var name: String
    /// Its Raft node id.
    public var raftID: UInt64
    /// `primary`, `replica`, or `uninitialized` (no data directory yet).
    public var role: MemberRole
    /// The state of its Postgres process.
    public var state: PostgresRunState
    /// Where its Postgres accepts connections.
    public var host: String
    public var port: Int
    /// The Postgres system identifier of its data directory, if it has one.
    public var systemIdentifier: UInt64?
    /// Its current timeline (primary: the one it writes; replica: the one it receives or replays).
    public var timeline: UInt32?
    /// Primary: the current WAL write position.
    public var walPosition: LSN?
    /// Replica: the last WAL position received (flushed) from the primary.
    public var receivedLSN: LSN?
    /// Replica: the last WAL position replayed.
    public var replayedLSN: LSN?
    /// Replica: whether its WAL receiver is streaming right now.
    public var streaming: Bool
    /// Replica: the member whose Postgres it follows.
    public var following: String?
    /// Patroni's tags: `nofailover`, `noloadbalance`, `clonefrom`, `nosync`, `failover_priority`, and any others.
    public var tags: Tags
    /// Primary: one row per standby from `pg_stat_replication`.
    public var replication: [ReplicationRow]
    /// Postgres' `server_version_num`, for example 150010.
    public var serverVersion: Int?
    /// Wall-clock time of the report, Unix milliseconds (for display; decisions use `Instant`).
    public var reportedAtUnixMs: UInt64
    /// The base URL of its REST API (Patroni's `api_url`).
    public var apiURL: String?
    /// Parameters changed in the configuration that take effect only after a restart
    /// (`pg_settings.pending_restart`), by name, with "old -> new" when known.
    public var pendingRestart: [String: String]?
    /// What the agent waits for, when it waits (on the leader: why no failover happens).
    public var waitingFor: String?
    /// Primary: why commits do not return now, when they do not (strict mode without standby).
    public var syncWarning: String?
    /// Primary: the `synchronous_standby_names` in effect.
    public var synchronousStandbyNames: String?
    /// A restart scheduled over the REST API (Unix milliseconds), if any; the agent reads it
    /// back from its own report when it starts, so the schedule survives an agent restart.
    public var scheduledRestartAtMs: UInt64?
    /// The role filter of that restart ("primary" or "replica"), if any.
    public var scheduledRestartRole: String?
    /// Set for a while after this member's `pre_promote` hook refused a promotion (why), so that
    /// every leader passes it over instead of handing leadership back to it.
    public var promotionRefused: String?

    public init(name: String, raftID: UInt64, role: MemberRole, state: PostgresRunState, host: String, port: Int,
                systemIdentifier: UInt64? = nil, timeline: UInt32? = nil, walPosition: LSN? = nil,
                receivedLSN: LSN? = nil, replayedLSN: LSN? = nil, streaming: Bool = false, following: String? = nil,
                tags: Tags = Tags(), replication: [ReplicationRow] = [], serverVersion: Int? = nil,
                reportedAtUnixMs: UInt64 = 0, apiURL: String? = nil) {
        self.apiURL = apiURL
        self.name = name
        self.raftID = raftID
        self.role = role
        self.state = state
        self.host = host
        self.port = port
        self.systemIdentifier = systemIdentifier
        self.timeline = timeline
        self.walPosition = walPosition
        self.receivedLSN = receivedLSN
        self.replayedLSN = replayedLSN
        self.streaming = streaming
        self.following = following
        self.tags = tags
        self.replication = replication
        self.serverVersion = serverVersion
        self.reportedAtUnixMs = reportedAtUnixMs
    }

    /// The WAL position this member's data reaches: a primary's write position, a replica's
    /// furthest of received and replayed (as Patroni). Both count: a standby that just
    /// restarted reports as received only the start of the segment it streams from, while its
    /// disk holds (and it replays) WAL beyond it.
    public var lsn: LSN? {
        if role == .primary { return walPosition }
        switch (receivedLSN, replayedLSN) {
        case let (r?, p?): return max(r, p)
        case let (r, p): return r ?? p
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, raftID = "raft_id", role, state, host, port, systemIdentifier = "system_identifier", timeline
        case walPosition = "wal_position", receivedLSN = "received_location", replayedLSN = "replayed_location"
        case streaming, following, tags, replication, serverVersion = "server_version", reportedAtUnixMs = "reported_at_ms"
        case apiURL = "api_url", pendingRestart = "pending_restart", waitingFor = "waiting_for"
        case syncWarning = "sync_warning", synchronousStandbyNames = "synchronous_standby_names"
        case scheduledRestartAtMs = "scheduled_restart_at_ms", scheduledRestartRole = "scheduled_restart_role"
        case promotionRefused = "promotion_refused"
    }
}

/// The role a member's Postgres plays.
public enum MemberRole: String, Hashable, Sendable, Codable {
    case primary
    case replica
    /// No data directory yet (before bootstrap or before its base backup).
    case uninitialized
}

/// The state of a member's Postgres process, with Patroni's names.
public enum PostgresRunState: String, Hashable, Sendable, Codable {
    case running
    case starting
    case stopped
    /// A clean stop is under way (a switchover's shutdown checkpoint).
    case stopping
    /// It exited without being asked to.
    case crashed
    /// A base backup, rewind or bootstrap is under way.
    case creatingReplica = "creating replica"
    case rewinding
    case initializing = "initializing new cluster"
    /// The agent refuses to run this data directory (another cluster's, for example).
    case refused
}

/// One standby as the primary's `pg_stat_replication` shows it.
public struct ReplicationRow: Hashable, Sendable, Codable {
    public var applicationName: String
    public var clientAddress: String?
    public var state: String
    public var syncState: String
    public var sentLSN: LSN?
    public var writeLSN: LSN?
    public var flushLSN: LSN?
    public var replayLSN: LSN?

    public init(applicationName: String, clientAddress: String? = nil, state: String, syncState: String,
                sentLSN: LSN? = nil, writeLSN: LSN? = nil, flushLSN: LSN? = nil, replayLSN: LSN? = nil) {
        self.applicationName = applicationName
        self.clientAddress = clientAddress
        self.state = state
        self.syncState = syncState
        self.sentLSN = sentLSN
        self.writeLSN = writeLSN
        self.flushLSN = flushLSN
        self.replayLSN = replayLSN
    }

    enum CodingKeys: String, CodingKey {
        case applicationName = "application_name", clientAddress = "client_addr", state, syncState = "sync_state"
        case sentLSN = "sent_lsn", writeLSN = "write_lsn", flushLSN = "flush_lsn", replayLSN = "replay_lsn"
    }
}

/// A member's tags (Patroni's names). Unknown tags are kept and reported.
public struct Tags: Hashable, Sendable, Codable {
    /// Never promote this member.
    public var noFailover: Bool
    /// Exclude from `/replica` health checks (issue 9).
    public var noLoadBalance: Bool
    /// Higher is preferred at failover among equally advanced replicas; 0 means never (as
    /// Patroni's `failover_priority`).
    public var failoverPriority: Int
    /// Never make this member a synchronous standby.
    public var noSync: Bool = false
    /// Higher is preferred when synchronous standbys are chosen; 0 means never (as `nosync`).
    public var syncPriority: Int = 1
    /// New replicas take their base backup from a running member with this tag when one exists.
    public var cloneFrom: Bool = false
    /// Cascading replication: stream from this member (a running standby) instead of the primary.
    public var replicateFrom: String?
    /// Other tags, reported as they are.
    public var other: [String: String]

    public init(noFailover: Bool = false, noLoadBalance: Bool = false, failoverPriority: Int = 1, noSync: Bool = false,
                syncPriority: Int = 1, cloneFrom: Bool = false, replicateFrom: String? = nil, other: [String: String] = [:]) {
        self.noFailover = noFailover
        self.noLoadBalance = noLoadBalance
        self.failoverPriority = failoverPriority
        self.noSync = noSync
        self.syncPriority = syncPriority
        self.cloneFrom = cloneFrom
        self.replicateFrom = replicateFrom
        self.other = other
    }

    /// Whether this member may ever become primary.
    public var mayBePromoted: Bool { !noFailover && failoverPriority > 0 }

    enum CodingKeys: String, CodingKey {
        case noFailover = "nofailover", noLoadBalance = "noloadbalance", failoverPriority = "failover_priority", other
        case noSync = "nosync", syncPriority = "sync_priority", cloneFrom = "clonefrom", replicateFrom = "replicatefrom"
    }

    // Tags written before a tag existed decode with its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        noFailover = try c.decodeIfPresent(Bool.self, forKey: .noFailover) ?? false
        noLoadBalance = try c.decodeIfPresent(Bool.self, forKey: .noLoadBalance) ?? false
        failoverPriority = try c.decodeIfPresent(Int.self, forKey: .failoverPriority) ?? 1
        noSync = try c.decodeIfPresent(Bool.self, forKey: .noSync) ?? false
        syncPriority = try c.decodeIfPresent(Int.self, forKey: .syncPriority) ?? 1
        cloneFrom = try c.decodeIfPresent(Bool.self, forKey: .cloneFrom) ?? false
        replicateFrom = try c.decodeIfPresent(String.self, forKey: .replicateFrom)
        other = try c.decodeIfPresent([String: String].self, forKey: .other) ?? [:]
    }
}

extension MemberStatus {
    /// The report that an observation of the local Postgres implies: the role from the data
    /// directory and what the running server answered (a stopped directory that last ran as a
    /// primary reports `primary`), the state from the process, or `activity` while a long
    /// action (a rewind, a base backup) runs. The agent and the simulator both report this way.
    public init(observing local: LocalPostgres, name: String, raftID: UInt64, host: String, port: Int, tags: Tags,
                activity: PostgresRunState? = nil, reportedAtUnixMs: UInt64, apiURL: String? = nil) {
        let role: MemberRole
        switch local.dataDirectory {
        case .empty, .unusable: role = .uninitialized
        case .initialized(let c):
            if let r = local.running { role = r.inRecovery ? .replica : .primary } else { role = c.lastRanAsPrimary ? .primary : .replica }
        }
        var state: PostgresRunState
        switch local.process {
        case .running: state = local.running == nil ? .starting : .running
        case .starting: state = .starting
        case .stopped: state = .stopped
        case .crashed: state = .crashed
        }
        if let activity { state = activity }
        let r = local.running
        self.init(
            name: name, raftID: raftID, role: role, state: state, host: host, port: port,
            systemIdentifier: local.dataDirectory.systemIdentifier,
            timeline: r?.timeline ?? { if case .initialized(let c) = local.dataDirectory { return c.timeline }; return nil }(),
            walPosition: r?.walPosition, receivedLSN: r?.receivedLSN, replayedLSN: r?.replayedLSN,
            streaming: r?.streaming ?? false, following: r?.following, tags: tags, replication: r?.replication ?? [],
            serverVersion: r?.serverVersion, reportedAtUnixMs: reportedAtUnixMs, apiURL: apiURL)
    }
}

extension MemberStatus {
    /// Same role, state, timeline, upstream, streaming, replication and notes (LSNs aside): a
    /// report that differs in shape is written at once, one that does not waits for its period.
    public func sameShape(as o: MemberStatus) -> Bool {
        role == o.role && state == o.state && timeline == o.timeline && following == o.following && streaming == o.streaming
            && systemIdentifier == o.systemIdentifier && replication.map(\.applicationName) == o.replication.map(\.applicationName)
            && replication.map(\.syncState) == o.replication.map(\.syncState) && pendingRestart == o.pendingRestart
            && waitingFor == o.waitingFor && syncWarning == o.syncWarning && synchronousStandbyNames == o.synchronousStandbyNames
            && scheduledRestartAtMs == o.scheduledRestartAtMs && promotionRefused == o.promotionRefused
    }
}
