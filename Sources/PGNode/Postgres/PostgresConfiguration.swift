import Foundation

/// The configuration files pgha writes for Postgres, rendered from the settings (pure: no
/// file system; `PostgresController` writes what this returns).
///
/// Layout in the data directory:
/// - `postgresql.base.conf`: initdb's `postgresql.conf`, moved there once after initdb (a base
///   backup or rewind brings the source's copy along).
/// - `postgresql.conf`: pgha's, rewritten before every start and on every change of upstream:
///   `include 'postgresql.base.conf'` first, then pgha's settings (listen address, port, socket
///   directory, hba_file, replication settings, `primary_conninfo`/`primary_slot_name`), then the
///   user's `parameters` (later lines win in Postgres, so the user's override pgha's defaults;
///   the settings pgha owns are refused by validation). A comment line
///   `# pgha.following: <member>` records whom `primary_conninfo` names.
/// - `pg_hba.conf`: pgha's rules (`local all all trust` — the socket directory is private —,
///   scram-sha-256 over TCP for the replication role and for the superuser, which pg_rewind
///   connects as), then the user's `pgHba` lines.
/// `postgresql.auto.conf` (ALTER SYSTEM) is left alone and still applies last; pgha never runs
/// pg_basebackup or pg_rewind with `-R`, which would write `primary_conninfo` there.
///
/// Outside the data directory, `PostgresSettings.passfile` holds the passwords of the
/// replication role and the superuser for libpq (`passfile=` in `primary_conninfo`, and
/// `PGPASSFILE` for pg_basebackup and pg_rewind).
struct PostgresConfiguration {
    static let baseFile = "postgresql.base.conf"
    static let mainFile = "postgresql.conf"
    static let hbaFile = "pg_hba.conf"
    static let standbySignal = "standby.signal"
    static let followingMarker = "# pgha.following: "
    /// How every `postgresql.conf` pgha writes begins.
    static let header = "# Written by pgha"

    let settings: PostgresSettings
    /// The store's parameters and `synchronous_standby_names`.
    var runtime = PostgresRuntimeConfiguration()

    /// `postgresql.conf` for a primary (`following` nil) or a standby streaming from `following`.
    func postgresqlConf(standbyOf upstream: PostgresUpstream?) -> String {
        let s = settings
        var lines = [
            Self.header + " for member '\(s.memberName)'. Do not edit: pgha rewrites this file before",
            "# every start and whenever the upstream changes. initdb's settings are in \(Self.baseFile);",
            "# add your own through pgha's configuration (postgresql parameters).",
            "include '\(Self.baseFile)'",
            "",
        ]
        if let upstream { lines.append(Self.followingMarker + upstream.member) }
        let pgha: [(String, String)] = [
            ("listen_addresses", s.listenHost),
            ("port", "\(s.port)"),
            ("unix_socket_directories", s.socketDirectory),
            ("hba_file", s.dataDirectory + "/" + Self.hbaFile),
            ("wal_level", "replica"),
            ("hot_standby", "on"),
            ("wal_log_hints", "on"),
            ("max_wal_senders", "10"),
            ("max_replication_slots", "10"),
            ("wal_keep_size", "128MB"),
            ("hot_standby_feedback", "on"),
            // A standby whose upstream is not ready (not promoted yet, its slot not created yet)
            // retries after this long; Postgres' default of 5 s would hold a repointed standby
            // off the new primary for seconds after a failover.
            ("wal_retrieve_retry_interval", "500ms"),
            ("primary_conninfo", upstream.map(primaryConninfo) ?? ""),
            ("primary_slot_name", upstream?.usesSlot == true ? PostgresController.slotName(for: s.memberName) : ""),
        ]
        lines += pgha.map { "\($0.0) = \(Self.confValue($0.1))" }
        let dynamic = runtime.dynamicParameters
        if !dynamic.isEmpty {
            lines += ["", "# From the cluster's dynamic configuration (pgha edit-config)."]
            lines += dynamic.keys.sorted().map { "\($0) = \(Self.confValue(dynamic[$0]!))" }
        }
        if !s.parameters.isEmpty {
            lines += ["", "# From this member's configuration file (these override the settings above)."]
            lines += s.parameters.keys.sorted().map { "\($0) = \(Self.confValue(s.parameters[$0]!))" }
        }
        lines += ["", "# Managed by pgha's synchronous replication (synchronous_mode).",
                  "synchronous_standby_names = \(Self.confValue(runtime.synchronousStandbyNames))"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `primary_conninfo` for streaming from `upstream`.
    func primaryConninfo(_ upstream: PostgresUpstream) -> String {
        Self.conninfo([
            ("host", upstream.host), ("port", "\(upstream.port)"), ("user", settings.replication.user),
            ("application_name", settings.memberName), ("passfile", settings.passfile), ("connect_timeout", "2"),
        ])
    }

    /// `pg_hba.conf`: pgha's rules, then the user's lines.
    func hbaConf() -> String {
        let s = settings
        var lines = [
            "# Written by pgha. Do not edit: add rules through pgha's configuration (pg_hba).",
            "# TYPE  DATABASE     USER  ADDRESS  METHOD",
            "local   all          all            trust",
            "host    replication  \(Self.hbaName(s.replication.user))  all  scram-sha-256",
            "host    all          \(Self.hbaName(s.superuser.user))  all  scram-sha-256",
        ]
        if !s.pgHba.isEmpty {
            lines += ["", "# From pgha's configuration."] + s.pgHba
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The pgpass file: one line per role with a password, any host, port and database.
    func pgpass() -> String {
        var lines: [String] = []
        for credentials in [settings.replication, settings.superuser] {
            guard let password = credentials.password else { continue }
            lines.append("*:*:*:\(Self.pgpassField(credentials.user)):\(Self.pgpassField(password))")
        }
        return lines.map { $0 + "\n" }.joined()
    }

    /// The member named by the `# pgha.following:` line of a rendered `postgresql.conf`.
    static func following(inRenderedConf text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(followingMarker) {
            return String(line.dropFirst(followingMarker.count))
        }
        return nil
    }

    // MARK: Quoting

    /// A `postgresql.conf` value: single-quoted, quotes doubled, backslashes escaped.
    static func confValue(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// A libpq connection string from `pairs`, every value single-quoted and escaped.
    static func conninfo(_ pairs: [(String, String)]) -> String {
        pairs.map { key, value in
            "\(key)='" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }.joined(separator: " ")
    }

    /// A role name in `pg_hba.conf` (double-quoted, so that names like "all" stay names).
    static func hbaName(_ name: String) -> String { "\"" + name + "\"" }

    /// A pgpass field: `:` and `\` escaped with a backslash.
    static func pgpassField(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
    }
}
