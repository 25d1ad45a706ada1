#if canImport(Glibc)
import Glibc
#endif

/// Everything the controller needs to know about the local Postgres: where its files live,
/// where it listens, whom it lets in, and which OS user runs it.
///
/// `PostgresSettings.validate(_:)` lists what is wrong with a value; every controller operation
/// that writes configuration refuses settings with problems.
public struct PostgresSettings: Sendable, Hashable {
    /// The member's name: Postgres' `application_name` on the replication connection and,
    /// sanitized (`PostgresController.slotName(for:)`), its replication slot's name.
    public var memberName: String
    /// Holds postgres, initdb, pg_ctl, pg_basebackup, pg_rewind and pg_controldata.
    public var binDirectory: String
    /// The data directory (`PGDATA`).
    public var dataDirectory: String
    /// `listen_addresses`.
    public var listenHost: String
    /// `port`, for TCP and for the socket file's name.
    public var port: Int
    /// `unix_socket_directories`: a private directory (0700, owned by `runAs`) through which the
    /// agent connects as superuser with `trust`. It also holds pgha's pgpass file.
    public var socketDirectory: String
    /// The postmaster's stdout and stderr, appended.
    public var logFile: String
    /// Extra `postgresql.conf` settings from the user's configuration. They come after pgha's
    /// defaults and override them, except the settings pgha must own
    /// (`PostgresSettings.reservedParameters`), which `validate(_:)` refuses.
    public var parameters: [String: String]
    /// The role the agent, pg_rewind and initdb use.
    public var superuser: PostgresCredentials
    /// The role standbys and pg_basebackup connect as.
    public var replication: PostgresCredentials
    /// Extra `pg_hba.conf` lines, appended after pgha's own.
    public var pgHba: [String]
    /// The OS user that runs every Postgres binary when the agent runs as root (Postgres
    /// refuses root); nil: the current user. Directories and files pgha creates for Postgres
    /// are owned by this user.
    public var runAs: String?
    /// Extra initdb arguments (bootstrap only). pgha always adds `--data-checksums`, `-U`,
    /// `--auth-local=trust` and, when the superuser has a password, `--auth-host=scram-sha-256`
    /// with `--pwfile`.
    public var initdbOptions: [String]
    /// The limit for one pg_basebackup or pg_rewind run; past it the tool is killed and the
    /// operation fails.
    public var transferTimeout: Duration

    /// `runAs`'s default: "postgres" when the agent runs as root, otherwise nil.
    public static var defaultRunAs: String? { geteuid() == 0 ? "postgres" : nil }

    /// Debian's Postgres 15 binaries.
    public static let debianBinDirectory = "/usr/lib/postgresql/15/bin"

    /// The settings pgha renders itself; a user's `parameters` may not name them.
    public static let reservedParameters: Set<String> = [
        "port", "listen_addresses", "unix_socket_directories", "hba_file", "primary_conninfo",
        "primary_slot_name", "hot_standby", "synchronous_standby_names", "config_file", "data_directory",
    ]

    public init(memberName: String, binDirectory: String = PostgresSettings.debianBinDirectory,
                dataDirectory: String, listenHost: String = "127.0.0.1", port: Int = 5432,
                socketDirectory: String, logFile: String, parameters: [String: String] = [:],
                superuser: PostgresCredentials = PostgresCredentials(user: "postgres"),
                replication: PostgresCredentials = PostgresCredentials(user: "replicator"),
                pgHba: [String] = [], runAs: String? = PostgresSettings.defaultRunAs,
                initdbOptions: [String] = ["--encoding=UTF8", "--locale=C.UTF-8"],
                transferTimeout: Duration = .seconds(6 * 3600)) {
        self.memberName = memberName
        self.binDirectory = binDirectory
        self.dataDirectory = dataDirectory
        self.listenHost = listenHost
        self.port = port
        self.socketDirectory = socketDirectory
        self.logFile = logFile
        self.parameters = parameters
        self.superuser = superuser
        self.replication = replication
        self.pgHba = pgHba
        self.runAs = runAs
        self.initdbOptions = initdbOptions
        self.transferTimeout = transferTimeout
    }

    /// The pgpass file pgha writes (mode 0600, owned by `runAs`): in the socket directory, so
    /// outside the data directory and never copied by pg_basebackup.
    public var passfile: String { socketDirectory + "/pgha.pgpass" }

    /// The path of one of the Postgres binaries.
    func binary(_ name: String) -> String { binDirectory + "/" + name }
}
