import Foundation
import HACore

extension PostgresController {
    /// The data directory as found: `.empty` when missing or empty; `.initialized` with
    /// pg_controldata's system identifier, checkpoint timeline and cluster state; `.unusable`
    /// (with the reason and what to do) when it holds something else — no PG_VERSION, another
    /// major version, or pg_controldata failed.
    public func inspectDataDirectory() async -> DataDirectoryState {
        do {
            return try await onPool { self.inspectDataDirectoryBlocking() }
        } catch {
            return .unusable("could not inspect \(settings.dataDirectory): \(error)")
        }
    }

    /// Everything the HA decision needs: the data directory, the process state and, while the
    /// postmaster runs and answers, what one query round trip (connect_timeout 1 s,
    /// statement_timeout 2 s, over the unix socket) reports: recovery, timeline (primary: from
    /// `pg_walfile_name(pg_current_wal_lsn())`; standby: `pg_stat_wal_receiver.received_tli`,
    /// else the checkpoint's timeline from `pg_control_checkpoint()`), WAL position or received
    /// and replayed LSNs, whether the WAL receiver streams, the member `primary_conninfo` was
    /// last rendered for, `server_version_num`, `pg_stat_replication` and the physical slots.
    /// `running` is nil when the query fails or the process is not `.running` (a successful
    /// query moves `.starting` to `.running`).
    public func observe() async -> LocalPostgres {
        let pid = postmasterPID
        let found = try? await onPool { () -> (DataDirectoryState, RunningPostgres?) in
            let directory = self.inspectDataDirectoryBlocking()
            guard pid != nil else { return (directory, nil) }
            let running = try? self.queryRunning(following: self.renderedFollowing())
            return (directory, running)
        }
        if let pid, found?.1 != nil { markRunning(pid) }
        let process = self.process
        return LocalPostgres(dataDirectory: found?.0 ?? .unusable("the controller's thread pool is not running"),
                             process: process, running: process == .running ? found?.1 : nil)
    }

    /// Blocking part of `inspectDataDirectory()`.
    func inspectDataDirectoryBlocking() -> DataDirectoryState {
        let data = settings.dataDirectory
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: data)
        } catch {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) { return .empty }
            return .unusable("\(data) cannot be read (\(error)); make it a directory the agent can read")
        }
        if entries.isEmpty { return .empty }
        guard let version = try? String(contentsOfFile: data + "/PG_VERSION", encoding: .utf8) else {
            return .unusable("\(data) holds files but no PG_VERSION, so it is not a Postgres data directory; move it away or point dataDirectory at another directory")
        }
        let major = version.trimmingCharacters(in: .whitespacesAndNewlines)
        guard major == "\(Self.majorVersion)" else {
            return .unusable("\(data) is a Postgres \(major) data directory and pgha runs Postgres \(Self.majorVersion); upgrade it (pg_upgrade) or move it away")
        }
        do {
            let user = try PostgresOSUser.resolve(settings.runAs)
            let output = try PostgresTool(executable: settings.binary("pg_controldata"), arguments: ["-D", data],
                                          user: user, timeout: .seconds(30)).run()
            guard output.status == 0 else {
                return .unusable("pg_controldata -D \(data) failed (status \(output.status)): \(output.tail)")
            }
            guard let control = ControlData(pgControlDataOutput: output.stdout) else {
                return .unusable("pg_controldata -D \(data) printed no system identifier, timeline or cluster state: \(PostgresTool.tail(of: output.stdout))")
            }
            return .initialized(control)
        } catch {
            return .unusable("inspecting \(data) failed: \(error)")
        }
    }

    /// The one round trip of `observe()`. Blocking: pool only.
    private func queryRunning(following: String?) throws -> RunningPostgres {
        let session = try localSession(statementTimeout: .seconds(2), connectTimeout: 1)
        let rows = try session.rows(Self.observationQuery)
        guard let row = rows.first, row.count == 13 else {
            throw PostgresError(.queryFailed, what: "the observation query returned no row", location: session.location,
                                remedy: "a bug in pgha; report it with the Postgres version")
        }
        let inRecovery = row[0] == "t"
        let timeline: UInt32
        if !inRecovery, let walFile = row[2], let tli = Self.timeline(ofWALFile: walFile) {
            timeline = tli
        } else {
            timeline = row[5].flatMap { UInt32($0) } ?? row[7].flatMap { UInt32($0) } ?? 0
        }
        let decoder = JSONDecoder()
        let replication = (try? decoder.decode([ReplicationRow].self, from: Data((row[9] ?? "[]").utf8))) ?? []
        let slots = (try? decoder.decode([String].self, from: Data((row[10] ?? "[]").utf8))) ?? []
        let pending = (try? decoder.decode([String: String].self, from: Data((row[12] ?? "{}").utf8))) ?? [:]
        var running = RunningPostgres(
            inRecovery: inRecovery, timeline: timeline,
            walPosition: row[1].flatMap(LSN.init(parsing:)),
            receivedLSN: row[3].flatMap(LSN.init(parsing:)), replayedLSN: row[4].flatMap(LSN.init(parsing:)),
            streaming: row[6] == "streaming", following: inRecovery ? following : nil,
            serverVersion: row[8].flatMap { Int($0) } ?? 0, replication: replication, slots: Set(slots))
        running.synchronousStandbyNames = row[11] ?? ""
        running.pendingRestart = pending
        return running
    }

    /// One statement, one row: what `observe()` reports.
    static let observationQuery = """
        select pg_is_in_recovery(),
          case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end,
          case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end,
          pg_last_wal_receive_lsn()::text,
          pg_last_wal_replay_lsn()::text,
          (select received_tli from pg_stat_wal_receiver),
          (select status from pg_stat_wal_receiver),
          (select timeline_id from pg_control_checkpoint()),
          current_setting('server_version_num'),
          (select coalesce(json_agg(json_build_object(
              'application_name', application_name, 'client_addr', client_addr::text,
              'state', coalesce(state, ''), 'sync_state', coalesce(sync_state, ''),
              'sent_lsn', sent_lsn::text, 'write_lsn', write_lsn::text,
              'flush_lsn', flush_lsn::text, 'replay_lsn', replay_lsn::text)), '[]')
           from pg_stat_replication),
          (select coalesce(json_agg(slot_name), '[]') from pg_replication_slots where slot_type = 'physical'),
          current_setting('synchronous_standby_names'),
          (select coalesce(json_object_agg(name, setting), '{}') from pg_settings where pending_restart)
        """
}
