import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PostgresController {
    /// Writes pgha's configuration into the data directory (see `PostgresConfiguration`): the
    /// socket directory, `postgresql.conf` for a primary or for a standby of `upstream`,
    /// `pg_hba.conf`, the pgpass file, and `standby.signal` (written for a standby, removed for
    /// a primary). initdb's own `postgresql.conf` becomes `postgresql.base.conf` the first
    /// time. Blocking: pool only.
    func writeConfiguration(standby: Bool, upstream: PostgresUpstream?, user: PostgresOSUser) throws {
        try checkSettings()
        let data = settings.dataDirectory
        let runtime = state.withLockedValue { s -> PostgresRuntimeConfiguration in
            s.runtime.renderedStandby = standby
            s.runtime.renderedUpstream = standby ? upstream : nil
            return s.runtime
        }
        let configuration = PostgresConfiguration(settings: settings, runtime: runtime)
        try writePassfile(user: user)
        try adoptInitdbConfiguration(user: user)
        try user.writeFile(data + "/" + PostgresConfiguration.mainFile,
                           configuration.postgresqlConf(standbyOf: standby ? upstream : nil), mode: 0o600)
        try user.writeFile(data + "/" + PostgresConfiguration.hbaFile, configuration.hbaConf(), mode: 0o600)
        let signal = data + "/" + PostgresConfiguration.standbySignal
        if standby {
            try user.createFileIfMissing(signal, mode: 0o600)
        } else if unlink(signal) != 0 && errno != ENOENT {
            throw PostgresError(.fileSystem, what: "removing standby.signal failed", location: signal,
                                detail: String(cString: strerror(errno)), remedy: "remove the file by hand; Postgres would start as a standby")
        }
        logger.debug("postgres configuration written", metadata: [
            "postgres.standby": "\(standby)", "postgres.following": "\(upstream?.member ?? "-")",
        ])
    }

    /// Creates the socket directory (0700) if missing and writes the pgpass file into it, for
    /// `primary_conninfo`, pg_basebackup and pg_rewind. Blocking.
    func writePassfile(user: PostgresOSUser) throws {
        try user.createDirectory(settings.socketDirectory, mode: 0o700)
        try user.writeFile(settings.passfile, PostgresConfiguration(settings: settings).pgpass(), mode: 0o600)
    }

    /// Moves initdb's `postgresql.conf` to `postgresql.base.conf` unless that exists. A
    /// `postgresql.conf` that pgha wrote is never moved (it would include itself); an empty
    /// base file is written instead.
    private func adoptInitdbConfiguration(user: PostgresOSUser) throws {
        let data = settings.dataDirectory
        let base = data + "/" + PostgresConfiguration.baseFile
        let main = data + "/" + PostgresConfiguration.mainFile
        guard !FileManager.default.fileExists(atPath: base) else { return }
        let current = (try? String(contentsOfFile: main, encoding: .utf8)) ?? ""
        if !current.isEmpty, !current.hasPrefix(PostgresConfiguration.header) {
            guard rename(main, base) == 0 else {
                throw PostgresError(.fileSystem, what: "keeping initdb's postgresql.conf as postgresql.base.conf failed",
                                    location: main, detail: String(cString: strerror(errno)),
                                    remedy: "check the data directory's permissions")
            }
        } else {
            try user.writeFile(base, "# initdb's postgresql.conf was not found; pgha's postgresql.conf has the settings.\n", mode: 0o600)
        }
    }

    /// Sets `synchronous_standby_names`: rendered into `postgresql.conf` from now on and, when
    /// Postgres runs, the file is rewritten for its current role and reloaded — when the value
    /// changed, or always with `force` (the decision asks because Postgres runs with another
    /// value). Returns whether anything was written.
    @discardableResult
    public func setSynchronousStandbyNames(_ names: String, force: Bool = false) async throws -> Bool {
        try await changeRuntime(force: force) { $0.synchronousStandbyNames = names }
    }

    /// Sets the store's parameters for this member (see `DynamicPostgres.effective`), rendering
    /// and reloading as `setSynchronousStandbyNames` does. Parameters pgha owns are dropped.
    /// Returns whether anything changed.
    @discardableResult
    public func setDynamicParameters(_ parameters: [String: String]) async throws -> Bool {
        let allowed = parameters.filter { !PostgresSettings.reservedParameters.contains($0.key.lowercased()) }
        return try await changeRuntime { $0.dynamicParameters = allowed }
    }

    /// The runtime configuration now.
    var runtimeConfiguration: PostgresRuntimeConfiguration { state.withLockedValue { $0.runtime } }

    /// Applies `change`; when it changed something (or `force`) and Postgres runs, rewrites the
    /// file and reloads. A failed rewrite or reload undoes the change, so the next call tries again.
    private func changeRuntime(force: Bool = false, _ change: @Sendable (inout PostgresRuntimeConfiguration) -> Void) async throws -> Bool {
        let (before, runtime, running) = state.withLockedValue { s -> (PostgresRuntimeConfiguration, PostgresRuntimeConfiguration, Bool) in
            let before = s.runtime
            change(&s.runtime)
            return (before, s.runtime, s.pid != nil && s.directoryWork == nil)
        }
        let changed = before != runtime
        guard changed || force, running else { return changed }
        do {
            try await onPool {
                let user = try PostgresOSUser.resolve(self.settings.runAs)
                try self.writeConfiguration(standby: runtime.renderedStandby, upstream: runtime.renderedUpstream, user: user)
                let session = try self.localSession(statementTimeout: .seconds(10))
                _ = try session.rows("select pg_reload_conf()")
            }
        } catch {
            state.withLockedValue { s in
                s.runtime.synchronousStandbyNames = before.synchronousStandbyNames
                s.runtime.dynamicParameters = before.dynamicParameters
            }
            throw error
        }
        logger.info("postgres configuration reloaded", metadata: [
            "postgres.synchronous_standby_names": "\(runtime.synchronousStandbyNames)",
            "postgres.dynamic_parameters": "\(runtime.dynamicParameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })",
        ])
        return true
    }

    /// The member named in the rendered `postgresql.conf` (nil: none, or no file). Blocking.
    func renderedFollowing() -> String? {
        let main = settings.dataDirectory + "/" + PostgresConfiguration.mainFile
        guard let text = try? String(contentsOfFile: main, encoding: .utf8) else { return nil }
        return PostgresConfiguration.following(inRenderedConf: text)
    }
}
