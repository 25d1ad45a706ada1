/// What the executor observed of this node's Postgres just before a decision.
public struct LocalPostgres: Hashable, Sendable {
    /// The data directory as found on disk.
    public var dataDirectory: DataDirectoryState
    /// The postmaster process.
    public var process: PostgresProcess
    /// Set while running: what a query answered.
    public var running: RunningPostgres?
    /// The postmaster was last started as a primary (not in recovery); the executor knows.
    public var startedAsPrimary: Bool

    public init(dataDirectory: DataDirectoryState, process: PostgresProcess, running: RunningPostgres? = nil,
                startedAsPrimary: Bool = false) {
        self.dataDirectory = dataDirectory
        self.process = process
        self.running = running
        self.startedAsPrimary = startedAsPrimary
    }

    /// Starting as a primary: it will accept writes once up.
    public var isStartingPrimary: Bool {
        if case .starting = process { return startedAsPrimary }
        return false
    }

    /// Whether this Postgres might accept writes: a running primary, one starting as primary,
    /// or a postmaster that does not answer but was started as (or last ran as) a primary.
    public var mayAcceptWrites: Bool {
        if isRunningPrimary || isStartingPrimary { return true }
        guard process == .running, running == nil else { return false }
        if startedAsPrimary { return true }
        if case .initialized(let c) = dataDirectory, c.state == .inProduction { return true }
        return false
    }

    /// Not stopped and not crashed: a postmaster exists.
    public var hasPostmaster: Bool {
        switch process {
        case .running, .starting: return true
        case .stopped, .crashed: return false
        }
    }

    /// Running and answering queries as a primary (not in recovery).
    public var isRunningPrimary: Bool { process == .running && running?.inRecovery == false }
    /// Running and answering queries in recovery (a standby).
    public var isRunningReplica: Bool { process == .running && running?.inRecovery == true }
}

/// A data directory as the agent finds it.
public enum DataDirectoryState: Hashable, Sendable {
    /// Missing or empty: needs a bootstrap or a base backup.
    case empty
    /// A Postgres cluster (from `pg_controldata`).
    case initialized(ControlData)
    /// Something is there but it is not a usable Postgres data directory of our major version
    /// (the reason says what).
    case unusable(String)

    /// The system identifier, if initialized.
    public var systemIdentifier: UInt64? {
        if case .initialized(let c) = self { return c.systemIdentifier }
        return nil
    }
}

/// The facts of `pg_controldata` the decisions need.
public struct ControlData: Hashable, Sendable {
    public var systemIdentifier: UInt64
    /// "Latest checkpoint's TimeLineID".
    public var timeline: UInt32
    /// "Database cluster state".
    public var state: ClusterState
    /// "Latest checkpoint location": after a clean stop, where the shutdown checkpoint record
    /// starts (a standby that received WAL beyond it has everything the primary wrote).
    public var checkpointLocation: LSN?

    public init(systemIdentifier: UInt64, timeline: UInt32, state: ClusterState, checkpointLocation: LSN? = nil) {
        self.systemIdentifier = systemIdentifier
        self.timeline = timeline
        self.state = state
        self.checkpointLocation = checkpointLocation
    }

    /// `pg_controldata`'s "Database cluster state" values.
    public enum ClusterState: String, Hashable, Sendable {
        case starting = "starting up"
        case shutDown = "shut down"
        case shutDownInRecovery = "shut down in recovery"
        case shuttingDown = "shutting down"
        case inCrashRecovery = "in crash recovery"
        case inArchiveRecovery = "in archive recovery"
        case inProduction = "in production"
        case unknown
    }

    /// Whether this directory last ran as a primary (cleanly stopped or not). Such a directory
    /// may have WAL the current primary never received: it must be rewound before it follows.
    /// ("in crash recovery" is written only by a primary's crash recovery; a standby recovers
    /// "in archive recovery".)
    public var lastRanAsPrimary: Bool {
        state == .shutDown || state == .inProduction || state == .shuttingDown || state == .inCrashRecovery
    }
}

/// The postmaster process as the executor tracks it.
public enum PostgresProcess: Hashable, Sendable {
    /// Not running, and not being started.
    case stopped
    /// Spawned at `since`, not yet accepting connections.
    case starting(since: Instant)
    /// Accepting connections.
    case running
    /// Exited without being asked to, at `at` (the executor noticed the child's exit).
    case crashed(at: Instant)
}

/// What a running Postgres answered.
public struct RunningPostgres: Hashable, Sendable {
    public var inRecovery: Bool
    public var timeline: UInt32
    /// Primary: `pg_current_wal_lsn()`.
    public var walPosition: LSN?
    /// Replica: `pg_last_wal_receive_lsn()`.
    public var receivedLSN: LSN?
    /// Replica: `pg_last_wal_replay_lsn()`.
    public var replayedLSN: LSN?
    /// Replica: the WAL receiver is streaming.
    public var streaming: Bool
    /// Replica: the member its `primary_conninfo` names (nil: none).
    public var following: String?
    public var serverVersion: Int
    /// Primary: `pg_stat_replication`.
    public var replication: [ReplicationRow]
    /// Primary: the names of the physical replication slots that exist.
    public var slots: Set<String>
    /// `synchronous_standby_names` as Postgres has it now.
    public var synchronousStandbyNames: String = ""
    /// Settings changed in the files that need a restart (`pg_settings.pending_restart`), with
    /// the value Postgres runs with.
    public var pendingRestart: [String: String] = [:]

    public init(inRecovery: Bool, timeline: UInt32, walPosition: LSN? = nil, receivedLSN: LSN? = nil,
                replayedLSN: LSN? = nil, streaming: Bool = false, following: String? = nil, serverVersion: Int = 150000,
                replication: [ReplicationRow] = [], slots: Set<String> = []) {
        self.inRecovery = inRecovery
        self.timeline = timeline
        self.walPosition = walPosition
        self.receivedLSN = receivedLSN
        self.replayedLSN = replayedLSN
        self.streaming = streaming
        self.following = following
        self.serverVersion = serverVersion
        self.replication = replication
        self.slots = slots
    }
}
