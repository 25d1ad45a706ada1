import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PostgresController {
    /// The suffix of directories `rebuild(from:)` sets aside: `<data>.pgha-old-<unix seconds>`.
    static let setAsideMarker = ".pgha-old-"

    /// What pg_rewind prints (LC_ALL=C) when the target needs nothing: "no rewind required"
    /// (its histories do not diverge past the target's end), after "source and target cluster
    /// are on the same timeline" when the timelines are equal.
    static let noRewindRequired = "no rewind required"

    /// Makes the stopped data directory follow `source` again after it diverged:
    /// `pg_rewind --target-pgdata=<data> --source-server='host=… port=… user=<superuser>
    /// dbname=postgres passfile=…'` (the password comes from pgha's pgpass file, never argv),
    /// run as `runAs`; since Postgres 13 pg_rewind first runs crash recovery on a target that
    /// was not shut down cleanly. pg_rewind copies the source's configuration files, so pgha
    /// then renders its own for a standby of `source` (with `standby.signal`); the caller
    /// starts it. Returns `.notNeeded` when pg_rewind reported "no rewind required". Before
    /// pg_rewind runs, a source promoted so recently that its pg_control still names the old
    /// timeline gets a `CHECKPOINT` (see `checkpointAfterPromotion`).
    /// Requires Postgres stopped.
    public func rewind(from source: PostgresUpstream) async throws -> RewindResult {
        try await withStoppedPostgres("pg_rewind from \(source.member)") {
            let result = try await onPool { try self.rewindBlocking(from: source) }
            logger.info("pg_rewind done", metadata: ["postgres.source": "\(source.member)", "postgres.rewind": "\(result)"])
            return result
        }
    }

    private func rewindBlocking(from source: PostgresUpstream) throws -> RewindResult {
        try checkSettings()
        let user = try PostgresOSUser.resolve(settings.runAs)
        try writePassfile(user: user)
        let server = PostgresConfiguration.conninfo([
            ("host", source.host), ("port", "\(source.port)"), ("user", settings.superuser.user),
            ("dbname", "postgres"), ("passfile", settings.passfile), ("connect_timeout", "5"),
            ("application_name", "pgha-rewind-\(settings.memberName)"),
        ])
        try checkpointAfterPromotion(source, conninfo: server)
        let output = try PostgresTool(executable: settings.binary("pg_rewind"),
                                      arguments: ["--target-pgdata=" + settings.dataDirectory, "--source-server=" + server],
                                      user: user, extraEnvironment: ["PGPASSFILE": settings.passfile],
                                      timeout: settings.transferTimeout).run()
        guard output.status == 0 else {
            throw PostgresError(.toolFailed, what: "pg_rewind from \(source) failed (status \(output.status))",
                                location: settings.dataDirectory, detail: output.tail,
                                remedy: "if the source is reachable and its superuser may log in over TCP, the histories cannot be rewound: rebuild this member from \(source.member) (pg_basebackup)")
        }
        logger.debug("pg_rewind output", metadata: ["postgres.output": "\(output.tail)"])
        try writeConfiguration(standby: true, upstream: source, user: user)
        return (output.stderr + output.stdout).contains(Self.noRewindRequired) ? .notNeeded : .rewound
    }

    /// pg_rewind compares the timeline in the source's pg_control, which a promotion updates
    /// only at its next checkpoint (Postgres requests one, it may not have run yet). Until then
    /// pg_rewind sees "the same timeline", reports "no rewind required" and leaves a diverged
    /// directory as it is. So: when the source is a primary whose last checkpoint lies on an
    /// older timeline than its WAL, run `CHECKPOINT` there first (as Patroni does after a
    /// promotion). Blocking.
    private func checkpointAfterPromotion(_ source: PostgresUpstream, conninfo: String) throws {
        let session = try PostgresSession(conninfo: conninfo, location: "\(source)")
        let rows = try session.rows("""
            select (select timeline_id from pg_control_checkpoint()),
              case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end
            """)
        guard let row = rows.first, let checkpoint = row[0].flatMap({ UInt32($0) }),
              let walFile = row[1], let current = Self.timeline(ofWALFile: walFile), checkpoint < current else { return }
        logger.info("checkpoint on the rewind source after its promotion", metadata: [
            "postgres.source": "\(source.member)", "postgres.checkpoint_timeline": "\(checkpoint)", "postgres.timeline": "\(current)",
        ])
        _ = try session.rows("checkpoint")
    }

    /// Replaces the stopped data directory with a fresh copy of `source`: an existing,
    /// non-empty directory is moved aside to `<data>.pgha-old-<unix seconds>` (kept; see
    /// `removeSetAsideDirectories()`), then `pg_basebackup -D <data> -X stream -c fast -h … -p …
    /// -U <replication user> -w` runs as `runAs` (password from the pgpass file), then pgha
    /// renders its configuration for a standby of `source` and writes `standby.signal`. On
    /// failure the partial copy is removed and the old directory moved back. Requires Postgres
    /// stopped.
    public func rebuild(from source: PostgresUpstream) async throws {
        try await withStoppedPostgres("rebuilding from \(source.member)") {
            try await onPool { try self.rebuildBlocking(from: source) }
            logger.info("data directory rebuilt", metadata: ["postgres.source": "\(source.member)"])
        }
    }

    private func rebuildBlocking(from source: PostgresUpstream) throws {
        try checkSettings()
        let user = try PostgresOSUser.resolve(settings.runAs)
        let data = settings.dataDirectory
        try writePassfile(user: user)
        let setAside = try setAsideDataDirectory()
        func restore() {
            try? FileManager.default.removeItem(atPath: data)
            if let setAside, rename(setAside, data) != 0 {
                logger.error("moving the old data directory back failed", metadata: [
                    "postgres.old": "\(setAside)", "postgres.error": "\(String(cString: strerror(errno)))",
                ])
            }
        }
        do {
            try user.createDirectory(data, mode: 0o700)
            let output = try PostgresTool(
                executable: settings.binary("pg_basebackup"),
                arguments: ["-D", data, "-X", "stream", "-c", "fast", "-h", source.host, "-p", "\(source.port)",
                            "-U", settings.replication.user, "-w"],
                user: user, extraEnvironment: ["PGPASSFILE": settings.passfile, "PGAPPNAME": "pgha-basebackup-\(settings.memberName)"],
                timeout: settings.transferTimeout).run()
            guard output.status == 0 else {
                throw PostgresError(.toolFailed, what: "pg_basebackup from \(source) failed (status \(output.status))",
                                    location: data, detail: output.tail,
                                    remedy: "check that \(source.member) runs, that the replication role may connect (pg_hba, password) and that there is room on disk; the old directory was kept")
            }
            try writeConfiguration(standby: true, upstream: source, user: user)
        } catch {
            restore()
            throw error
        }
    }

    /// Moves a non-empty data directory to `<data>.pgha-old-<unix seconds>`; removes an empty
    /// one. Returns where it went (nil: nothing was there).
    private func setAsideDataDirectory() throws -> String? {
        let data = settings.dataDirectory
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: data) else { return nil }
        if entries.isEmpty {
            try? FileManager.default.removeItem(atPath: data)
            return nil
        }
        var target = data + Self.setAsideMarker + "\(Int(Date().timeIntervalSince1970))"
        var attempt = 1
        while FileManager.default.fileExists(atPath: target) {
            attempt += 1
            target = data + Self.setAsideMarker + "\(Int(Date().timeIntervalSince1970))-\(attempt)"
        }
        guard rename(data, target) == 0 else {
            throw PostgresError(.fileSystem, what: "moving the old data directory aside failed", location: data,
                                detail: "rename to \(target): \(String(cString: strerror(errno)))",
                                remedy: "check the permissions of the parent directory")
        }
        logger.info("old data directory set aside", metadata: ["postgres.old": "\(target)"])
        return target
    }

    /// Deletes the directories `rebuild(from:)` set aside (`<data>.pgha-old-*`), once the new
    /// one streams. Returns the paths removed.
    public func removeSetAsideDirectories() async -> [String] {
        let data = settings.dataDirectory
        let removed = (try? await onPool { () -> [String] in
            let parent = (data as NSString).deletingLastPathComponent
            let prefix = (data as NSString).lastPathComponent + Self.setAsideMarker
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            var removed: [String] = []
            for entry in entries.sorted() where entry.hasPrefix(prefix) {
                let path = parent + "/" + entry
                if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
            }
            return removed
        }) ?? []
        if !removed.isEmpty { logger.info("old data directories removed", metadata: ["postgres.removed": "\(removed)"]) }
        return removed
    }
}
