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
        let configuration = PostgresConfiguration(settings: settings)
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

    /// The member named in the rendered `postgresql.conf` (nil: none, or no file). Blocking.
    func renderedFollowing() -> String? {
        let main = settings.dataDirectory + "/" + PostgresConfiguration.mainFile
        guard let text = try? String(contentsOfFile: main, encoding: .utf8) else { return nil }
        return PostgresConfiguration.following(inRenderedConf: text)
    }
}
