import Foundation
import HACore

extension PostgresController {
    /// Promotes the running standby: `pg_promote(wait => false)`, then waits (polling every 5 ms)
    /// until it leaves recovery, for at most `waitSeconds`.
    /// Postgres removes `standby.signal` itself; pgha then renders the configuration of a
    /// primary (no `primary_conninfo`) for the next start. Returns the new timeline and the
    /// WAL position right after the promotion. Throws if Postgres does not run, is not in
    /// recovery, or the promotion did not finish in `waitSeconds`.
    ///
    /// With `timeline`, the promotion starts that timeline (when it is above the standby's):
    /// Postgres takes one above the newest timeline history file it finds in `pg_wal`, so pgha
    /// first writes a placeholder history file (comments only) for every missing number below
    /// `timeline`, and removes them once promoted.
    public func promote(waitSeconds: Int, timeline: UInt32? = nil) async throws -> (timeline: UInt32, lsn: LSN) {
        try requireRunning("promoting")
        let result = try await onPool { () throws -> (UInt32, LSN) in
            let session = try self.localSession(statementTimeout: .seconds(Int64(waitSeconds) + 10))
            let user = try PostgresOSUser.resolve(self.settings.runAs)
            let placeholders = try timeline.map { try self.writeTimelinePlaceholders(below: $0, user: user) } ?? []
            // pg_promote(wait => true) looks every 100 ms; polling every 5 ms takes the writes
            // back up to 95 ms sooner.
            // A standby whose replay an operator paused still replays what it received first.
            _ = try session.rows("select pg_wal_replay_resume()")
            _ = try session.rows("select pg_promote(wait => false)")
            let deadline = Date().addingTimeInterval(TimeInterval(max(1, waitSeconds)))
            var promoted = false
            while !promoted && Date() < deadline {
                promoted = try session.rows("select pg_is_in_recovery()").first?.first == "f"
                if !promoted { usleep(5_000) }
            }
            guard promoted else {
                throw PostgresError(.timedOut, what: "the promotion did not finish within \(waitSeconds) s", location: session.location,
                                    detail: self.logTail(), remedy: "see the Postgres log; it may still finish (observe() tells), or stop and retry")
            }
            let rows = try session.rows("select pg_walfile_name(pg_current_wal_lsn()), pg_current_wal_lsn()::text")
            guard let walFile = rows.first?[0], let tli = Self.timeline(ofWALFile: walFile),
                  let text = rows.first?[1], let lsn = LSN(parsing: text) else {
                throw PostgresError(.queryFailed, what: "reading the timeline after the promotion failed", location: session.location,
                                    detail: "\(rows)", remedy: "a bug in pgha; report it")
            }
            for path in placeholders { unlink(path) }
            try self.writeConfiguration(standby: false, upstream: nil, user: user)
            return (tli, lsn)
        }
        if let timeline, result.0 != timeline {
            logger.warning("the promotion started another timeline than the reserved one",
                           metadata: ["postgres.timeline": "\(result.0)", "reserved": "\(timeline)"])
        }
        logger.info("postgres promoted", metadata: ["postgres.timeline": "\(result.0)", "postgres.lsn": "\(result.1)"])
        return (timeline: result.0, lsn: result.1)
    }

    /// Where `timeline` forked from its parent: the last entry of `pg_wal/<timeline>.history`
    /// (`parent<TAB>switchpoint<TAB>reason`); nil if the file is missing or unreadable.
    public func switchPoint(of timeline: UInt32) -> TimelineSwitch? {
        switchPoints(of: timeline)[timeline]
    }

    /// The last entry of a timeline history file's text.
    static func switchPoint(inHistory text: String) -> TimelineSwitch? {
        entries(inHistory: text).last
    }

    /// Where `timeline` and each of its ancestors (but timeline 1) forked, keyed by timeline,
    /// from `pg_wal/<timeline>.history`; empty if the file is missing or unreadable.
    public func switchPoints(of timeline: UInt32) -> [UInt32: TimelineSwitch] {
        let path = settings.dataDirectory + "/pg_wal/" + String(format: "%08X.history", timeline)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return Self.switchPoints(inHistory: text, of: timeline)
    }

    /// A history file's entries name each ancestor and where it ended; the timeline that
    /// followed an entry is the next entry's (the last entry's is `timeline`).
    static func switchPoints(inHistory text: String, of timeline: UInt32) -> [UInt32: TimelineSwitch] {
        let entries = entries(inHistory: text)
        var result: [UInt32: TimelineSwitch] = [:]
        for (i, e) in entries.enumerated() {
            result[i + 1 < entries.count ? entries[i + 1].parent : timeline] = e
        }
        return result
    }

    /// The parseable entries (`parent<TAB>switchpoint<TAB>reason`) of a history file, in order.
    private static func entries(inHistory text: String) -> [TimelineSwitch] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .compactMap { line in
                let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
                guard fields.count >= 2, let parent = UInt32(fields[0]), let lsn = LSN(parsing: String(fields[1])) else { return nil }
                return TimelineSwitch(parent: parent, lsn: lsn)
            }
    }

    /// Writes `pg_wal/<timeline>.history` placeholders for each timeline from 2 to `timeline - 1`
    /// that has no history file, so that a promotion skips those numbers; returns their paths.
    /// Existing history files are left as they are.
    func writeTimelinePlaceholders(below timeline: UInt32, user: PostgresOSUser) throws -> [String] {
        guard timeline > 2 else { return [] }
        var written: [String] = []
        for number in 2..<timeline {
            let path = settings.dataDirectory + "/pg_wal/" + String(format: "%08X.history", number)
            if FileManager.default.fileExists(atPath: path) { continue }
            try user.writeFile(path, "# pgha: timeline \(number) is taken by another member's promotion; this file keeps Postgres from reusing it\n")
            written.append(path)
        }
        return written
    }

    /// Points this standby at `upstream`: rewrites `primary_conninfo` and `primary_slot_name`
    /// and reloads (`pg_reload_conf()`); Postgres restarts its WAL receiver, the postmaster
    /// keeps running. If Postgres is stopped, only the configuration (and `standby.signal`) is
    /// written, for the next start. Throws, changing nothing, if it runs as a primary (a
    /// primary must be stopped, rewound and started as a standby).
    public func follow(_ upstream: PostgresUpstream) async throws {
        let running = postmasterPID != nil
        try await onPool {
            let user = try PostgresOSUser.resolve(self.settings.runAs)
            guard running else {
                try self.writeConfiguration(standby: true, upstream: upstream, user: user)
                return
            }
            let session = try self.localSession(statementTimeout: .seconds(10))
            guard try session.rows("select pg_is_in_recovery()").first?.first == "t" else {
                throw PostgresError(.running, what: "following \(upstream.member) was refused", location: session.location,
                                    detail: "Postgres runs as a primary (not in recovery)",
                                    remedy: "stop it, rewind it from \(upstream.member) and start it as a standby")
            }
            try self.writeConfiguration(standby: true, upstream: upstream, user: user)
            _ = try session.rows("select pg_reload_conf()")
        }
        logger.info("postgres follows a new upstream", metadata: [
            "postgres.upstream": "\(upstream)",
        ])
    }

    /// On a primary: creates a physical replication slot (reserving WAL immediately) for each
    /// name that has none, and drops inactive physical slots whose names are not in `names`.
    /// Names are sanitized with `slotName(for:)` (idempotent, so slot names pass through).
    /// Active slots are never dropped.
    public func syncSlots(_ names: Set<String>) async throws {
        try requireRunning("synchronizing replication slots")
        let wanted = Set(names.map(Self.slotName(for:)))
        let (created, dropped) = try await onPool { () throws -> ([String], [String]) in
            let session = try self.localSession(statementTimeout: .seconds(10))
            let rows = try session.rows("select slot_name, active from pg_replication_slots where slot_type = 'physical'")
            var existing: [String: Bool] = [:]
            for row in rows { if let name = row[0] { existing[name] = row[1] == "t" } }
            var created: [String] = [], dropped: [String] = []
            for name in wanted.sorted() where existing[name] == nil {
                _ = try session.rows("select pg_create_physical_replication_slot(\(try session.literal(name)), true)")
                created.append(name)
            }
            for (name, active) in existing.sorted(by: { $0.key < $1.key }) where !active && !wanted.contains(name) {
                _ = try session.rows("select pg_drop_replication_slot(\(try session.literal(name)))")
                dropped.append(name)
            }
            return (created, dropped)
        }
        if !created.isEmpty || !dropped.isEmpty {
            logger.info("replication slots synchronized", metadata: [
                "postgres.slots.created": "\(created)", "postgres.slots.dropped": "\(dropped)",
            ])
        }
    }

    /// The replication slot name for `member`: lowercased, every character outside
    /// `[a-z0-9_]` replaced by `_`, at most 63 characters (Postgres' limit); "_" for an
    /// empty name. Idempotent.
    public static func slotName(for member: String) -> String { ReplicationSlot.name(for: member) }

    /// Throws `.notRunning` unless a postmaster runs.
    func requireRunning(_ what: String) throws {
        guard postmasterPID != nil else {
            throw PostgresError(.notRunning, what: "\(what) was refused", location: settings.dataDirectory,
                                detail: "Postgres does not run", remedy: "start it first")
        }
    }

    /// Runs `body` with the data directory reserved for `what`: throws `.running` if a
    /// postmaster runs or is being spawned, or another such operation is under way; starts are
    /// refused until `body` returns.
    func withStoppedPostgres<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        let refusal: String? = state.withLockedValue { s in
            if let pid = s.pid { return "Postgres runs (pid \(pid))" }
            if s.spawning { return "Postgres is being started" }
            if let work = s.directoryWork { return "\(work) is under way" }
            s.directoryWork = what
            return nil
        }
        if let refusal {
            throw PostgresError(.running, what: "\(what) was refused", location: settings.dataDirectory,
                                detail: refusal, remedy: "stop Postgres (or wait for the other operation) first")
        }
        defer { state.withLockedValue { $0.directoryWork = nil } }
        return try await body()
    }
}
