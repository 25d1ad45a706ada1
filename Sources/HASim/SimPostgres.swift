import HACore

/// One record of a simulated write-ahead log. Records are copied, never rewritten, so two logs
/// that hold an equal record at the same index share everything before it (a record's identity
/// is unique: commits carry the client's operation id, timeline switches the promoting host).
struct WALRecord: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        /// `initdb`: the first record of a cluster.
        case initdb(systemIdentifier: UInt64)
        /// A client's commit.
        case commit(UInt64)
        /// The end-of-recovery record a promotion writes on its new timeline.
        case timelineSwitch(host: Int, serial: Int)
        /// A checkpoint (after a promotion, or a clean shutdown).
        case checkpoint(host: Int, serial: Int)
    }

    /// The WAL position after this record.
    var end: UInt64
    var timeline: UInt32
    var kind: Kind
    /// Global time the record was first written (for the replication-lag model).
    var writtenAt: Int
}

/// The simulated Postgres of one host: a data directory (a WAL and the control file's state),
/// a postmaster process, a WAL receiver that streams from an upstream over the simulated network,
/// and, on a primary, synchronous commit per `synchronous_standby_names`.
struct SimPostgres {
    enum Process: Hashable {
        case stopped
        /// Being started (as a primary or a standby); ready at the operation's end.
        case starting(since: Int, asPrimary: Bool)
        case running
        /// Exited on its own, or was killed by a fence or a crash.
        case crashed(at: Int)
    }

    /// An operation in progress (start, promotion, stop, rewind, base backup), ending at `doneAt`.
    struct Operation: Hashable {
        enum Kind: Hashable { case start(asPrimary: Bool), promote, stop(clean: Bool), rewind(from: Int), rebuild(from: Int), initdb }
        var id: Int
        var kind: Kind
        var doneAt: Int
    }

    /// The WAL receiver's connection to its upstream.
    struct Stream: Hashable {
        var upstream: Int
        /// Last global time data or a keepalive came through (a silent link times out).
        var lastContact: Int
    }

    var initialized = false
    var systemIdentifier: UInt64 = 0
    var wal: [WALRecord] = []
    /// `pg_controldata`'s cluster state.
    var controlState: ControlData.ClusterState = .shutDown
    var checkpointLocation: UInt64?
    var process: Process = .stopped
    var operation: Operation?
    /// Running in recovery (a standby), or promoting.
    var inRecovery = true
    var promoting = false
    /// The timeline the next promotion starts (the agent reserved it and wrote the placeholder
    /// history files below it); nil: one above the current.
    var reservedTimeline: UInt32?
    /// `primary_conninfo`: the host this standby streams from.
    var upstream: Int?
    var stream: Stream?
    /// When the WAL receiver may try to connect again.
    var receiverRetryAt = 0
    /// Standbys streaming from this server: host → (flushed end, last contact).
    var senders: [Int: (flushed: UInt64, lastContact: Int)] = [:]
    var synchronousStandbyNames = "" {
        didSet { if synchronousStandbyNames != oldValue { syncRule = SyncRule(synchronousStandbyNames) } }
    }
    /// `synchronousStandbyNames` parsed (once per change: commits consult it constantly).
    private(set) var syncRule = SyncRule("")
    var slots: Set<String> = []
    /// Commits written but waiting for synchronous standbys: (record index, client, operation id).
    var waitingCommits: [(index: Int, client: Int, op: UInt64)] = []
    /// Extra delay before this standby sees what its upstream wrote (a slow disk or link).
    var replicationLag = 0
    /// Increments whenever the process changes, so stale completions are ignored.
    var epoch = 0
    var serial = 0

    var lastEnd: UInt64 { wal.last?.end ?? 0 }
    var timeline: UInt32 { wal.last?.timeline ?? 1 }

    /// Running and answering as a primary (promotion finished).
    var isRunningPrimary: Bool { process == .running && !inRecovery }
    var isRunningStandby: Bool { process == .running && inRecovery }

    /// Whether this log holds `other`'s record at `index` (and so everything before it).
    func holds(_ record: WALRecord, at index: Int) -> Bool { index < wal.count && wal[index] == record }

    /// How many leading records this log shares with `other`.
    func commonPrefix(with other: [WALRecord]) -> Int {
        // Equal records at an index imply an equal prefix: search for the last shared index.
        var lo = 0, hi = min(wal.count, other.count)
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if wal[mid - 1] == other[mid - 1] { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Where each timeline of this WAL (but the first) forked, as the newest timeline's
    /// history file lists them (`PostgresController.switchPoints`).
    func switchPoints() -> [UInt32: TimelineSwitch] {
        var result: [UInt32: TimelineSwitch] = [:]
        for i in wal.indices.dropFirst() where wal[i].timeline != wal[i - 1].timeline {
            result[wal[i].timeline] = TimelineSwitch(parent: wal[i - 1].timeline, lsn: LSN(wal[i - 1].end))
        }
        return result
    }

    mutating func append(_ kind: WALRecord.Kind, bytes: UInt64, at time: Int, timeline: UInt32? = nil) -> Int {
        wal.append(WALRecord(end: lastEnd + bytes, timeline: timeline ?? self.timeline, kind: kind, writtenAt: time))
        return wal.count - 1
    }

    // MARK: What the agent observes

    /// The executor's observation (`PostgresController.observe()`).
    func observe(me: Int, names: [Int: String], startedAsPrimary: Bool, now: Instant, time: Int) -> LocalPostgres {
        guard initialized else { return LocalPostgres(dataDirectory: .empty, process: processState(now: now, time: time)) }
        let control = ControlData(systemIdentifier: systemIdentifier, timeline: timeline, state: controlState,
                                  checkpointLocation: checkpointLocation.map { LSN($0) })
        var local = LocalPostgres(dataDirectory: .initialized(control), process: processState(now: now, time: time),
                                  startedAsPrimary: startedAsPrimary)
        if process == .running, !promoting {
            var r = RunningPostgres(inRecovery: inRecovery, timeline: timeline)
            if inRecovery {
                r.receivedLSN = LSN(lastEnd)
                r.replayedLSN = LSN(lastEnd)
                r.streaming = stream != nil
                r.following = upstream.flatMap { names[$0] }
            } else {
                r.walPosition = LSN(lastEnd)
                r.slots = slots
            }
            r.replication = replicationRows(names: names)
            r.synchronousStandbyNames = synchronousStandbyNames
            local.running = r
        }
        return local
    }

    private func processState(now: Instant, time: Int) -> PostgresProcess {
        switch process {
        case .stopped: return .stopped
        case .starting(let since, _): return .starting(since: Instant(milliseconds: now.rawValue &- UInt64(max(0, time - since))))
        case .running: return .running
        case .crashed(let at): return .crashed(at: Instant(milliseconds: now.rawValue &- UInt64(max(0, time - at))))
        }
    }

    /// `pg_stat_replication`: one row per connected standby, with its synchronous state.
    func replicationRows(names: [Int: String]) -> [ReplicationRow] {
        let rule = syncRule
        return senders.keys.sorted().compactMap { h in
            guard let name = names[h], let s = senders[h] else { return nil }
            return ReplicationRow(applicationName: name, state: "streaming", syncState: rule.state(of: name, connected: connectedNames(names)),
                                  sentLSN: LSN(lastEnd), writeLSN: LSN(s.flushed), flushLSN: LSN(s.flushed), replayLSN: LSN(s.flushed))
        }
    }

    func connectedNames(_ names: [Int: String]) -> [String] { senders.keys.sorted().compactMap { names[$0] } }

    /// Whether the commit at `index` may be acknowledged now.
    func released(_ index: Int, names: [Int: String]) -> Bool {
        let rule = syncRule
        guard rule.count > 0 else { return true }
        let end = wal[index].end
        let flushed = senders.compactMap { h, s -> String? in s.flushed >= end ? names[h] : nil }
        return rule.satisfied(flushed: Set(flushed), connected: connectedNames(names))
    }
}

/// `synchronous_standby_names` as Postgres applies it: `FIRST n (list)` waits for the first `n`
/// connected standbys of the list (by list order) to flush; `ANY k (list)` for any `k` of the
/// list. Empty: no waiting.
struct SyncRule: Hashable {
    var any = false
    var count = 0
    var names: [String] = []

    init(_ text: String) {
        let t = text.trimmingCharacters(in: " ")
        guard !t.isEmpty, let open = t.firstIndex(of: "("), let close = t.lastIndex(of: ")") else { return }
        let head = t[..<open].split(separator: " ")
        any = head.first?.uppercased() == "ANY"
        count = head.count >= 2 ? Int(head[1]) ?? 1 : 1
        names = t[t.index(after: open)..<close].split(separator: ",").map {
            String($0).trimmingCharacters(in: " ").trimmingCharacters(in: "\"")
        }
    }

    /// The standbys Postgres waits for now (FIRST: the first `count` listed that are connected).
    func waitedFor(connected: [String]) -> [String] {
        if any { return names.filter { connected.contains($0) } }
        return Array(names.filter { connected.contains($0) }.prefix(count))
    }

    func satisfied(flushed: Set<String>, connected: [String]) -> Bool {
        if any { return names.filter { flushed.contains($0) && connected.contains($0) }.count >= count }
        let first = waitedFor(connected: connected)
        return first.count >= count && first.allSatisfy { flushed.contains($0) }
    }

    func state(of name: String, connected: [String]) -> String {
        guard count > 0, names.contains(name) else { return "async" }
        if any { return "quorum" }
        return waitedFor(connected: connected).contains(name) ? "sync" : "potential"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
