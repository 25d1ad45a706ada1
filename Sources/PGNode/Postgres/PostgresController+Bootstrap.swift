import Foundation
import HACore
#if canImport(Glibc)
import Glibc
#endif

extension PostgresController {
    /// How long bootstrap waits for the new cluster to accept connections.
    static let bootstrapReadyTimeout: Duration = .seconds(60)

    /// Creates a new cluster and starts it as the primary: `initdb --data-checksums -U <superuser>
    /// --auth-local=trust` (with `--auth-host=scram-sha-256 --pwfile=…` when the superuser has a
    /// password; the password file is temporary, in the socket directory), renders the
    /// configuration, starts Postgres as a primary, waits until it is ready, and creates the
    /// replication role (`LOGIN REPLICATION PASSWORD …`) unless it exists. Returns the new
    /// system identifier. Refuses a data directory that is not empty; Postgres keeps running
    /// afterwards.
    public func bootstrap() async throws -> UInt64 {
        try await onPool { try self.initializeDataDirectory() }
        try await start(.primary)
        guard await waitUntilReady(timeout: Self.bootstrapReadyTimeout) else {
            await stop(.immediate, timeout: .seconds(5))
            let log = (try? await onPool { self.logTail() }) ?? ""
            throw PostgresError(.startFailed, what: "the new cluster did not accept connections", location: settings.dataDirectory,
                                detail: log, remedy: "see the Postgres log \(settings.logFile); remove the data directory before bootstrapping again")
        }
        try await onPool { try self.createReplicationRole() }
        let rows = try await query("select system_identifier from pg_control_system()")
        guard let text = rows.first?.first ?? nil, let id = UInt64(text) else {
            throw PostgresError(.queryFailed, what: "reading the new system identifier failed", location: settings.dataDirectory,
                                detail: "pg_control_system() answered \(rows)", remedy: "a bug in pgha; report it")
        }
        logger.info("postgres cluster bootstrapped", metadata: ["postgres.system_id": "\(id)"])
        return id
    }

    /// initdb into the (empty or missing) data directory. Blocking: pool only.
    private func initializeDataDirectory() throws {
        try checkSettings()
        let data = settings.dataDirectory
        switch inspectDataDirectoryBlocking() {
        case .empty: break
        case .initialized(let control):
            throw PostgresError(.dataDirectoryNotEmpty, what: "bootstrap refused", location: data,
                                detail: "it holds the cluster \(control.systemIdentifier) (timeline \(control.timeline), \(control.state.rawValue))",
                                remedy: "start that cluster instead, or move the directory away if it is to be replaced")
        case .unusable(let reason):
            throw PostgresError(.dataDirectoryNotEmpty, what: "bootstrap refused: the data directory is not empty", location: data,
                                detail: reason, remedy: "move the directory away or empty it")
        }
        let user = try PostgresOSUser.resolve(settings.runAs)
        try user.createDirectory(data, mode: 0o700)
        try user.createDirectory(settings.socketDirectory, mode: 0o700)
        var arguments = ["-D", data, "--data-checksums", "-U", settings.superuser.user, "--auth-local=trust"]
        let passwordFile = settings.socketDirectory + "/pgha-initdb.pwfile"
        if let password = settings.superuser.password {
            try user.writeFile(passwordFile, password + "\n", mode: 0o600)
            arguments += ["--auth-host=scram-sha-256", "--pwfile=" + passwordFile]
        }
        defer { unlink(passwordFile) }
        arguments += settings.initdbOptions
        let output = try PostgresTool(executable: settings.binary("initdb"), arguments: arguments, user: user,
                                      timeout: .seconds(300)).run()
        guard output.status == 0 else {
            throw PostgresError(.toolFailed, what: "initdb failed (status \(output.status))", location: data, detail: output.tail,
                                remedy: "fix what initdb reports (locale, permissions, disk space), empty the directory and bootstrap again")
        }
        logger.info("initdb done", metadata: ["postgres.data": "\(data)"])
    }

    /// Creates the replication role unless it exists (or is the superuser). Blocking.
    private func createReplicationRole() throws {
        let role = settings.replication
        guard role.user != settings.superuser.user else { return }
        let session = try localSession(statementTimeout: .seconds(10))
        // No standby exists yet: a synchronous_standby_names from the user's parameters must not
        // make this commit wait for one.
        _ = try session.rows("set synchronous_commit = local")
        let exists = try session.rows("select 1 from pg_roles where rolname = \(try session.literal(role.user))")
        guard exists.isEmpty else { return }
        var sql = "create role \(try session.identifier(role.user)) login replication"
        if let password = role.password { sql += " password \(try session.literal(password))" }
        _ = try session.rows(sql)
        logger.info("replication role created", metadata: ["postgres.role": "\(role.user)"])
    }
}
