import Foundation
import HACore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Controls the one local Postgres (15) of this node: creates, starts, stops, fences, observes,
/// promotes, repoints, rewinds and rebuilds it. The HA agent's executor calls it; it makes no
/// decisions of its own.
///
/// **Nothing here blocks a Swift task or an event loop.** Every blocking call — libpq, initdb,
/// pg_controldata, pg_basebackup, pg_rewind, file work — runs on `threadPool` (give the
/// controller a pool of its own, `recommendedThreadCount` threads, so slow Postgres work never
/// competes with anything else), and libpq connections are opened, used and closed within one
/// pool job. The async methods only wait.
///
/// **The postmaster is this process's child and dies with it.** It is spawned (by
/// `PostmasterSpawner`, from one thread that lives as long as the process) as
/// `/usr/bin/setpriv --pdeathsig QUIT [--reuid <runAs> --regid <gid> --init-groups] -- <bin>/postgres -D <data>`:
/// setpriv switches to the Postgres user first and sets the parent-death signal after that
/// (Linux clears it on a credential change), so when the agent dies the kernel sends the
/// postmaster SIGQUIT, an immediate shutdown, and no primary outlives its agent. The child has
/// its own process group, stdin /dev/null, stdout and stderr appended to `settings.logFile`.
/// A thread per child waits for exactly that pid (`waitid`/`waitpid`, never "any child"); an
/// exit nobody asked for (not `stop`, not `fenceNow`) sets `process` to `.crashed(at:)` and is
/// reported through `onUnexpectedExit`.
///
/// **Postgres refuses root.** When `settings.runAs` is set (the default when the agent is
/// root), every Postgres binary runs as that user through setpriv and the directories and
/// files pgha creates for it (data directory, socket directory, log file, configuration, pgpass)
/// are owned by it, directories with mode 0700.
///
/// Configuration layout: see `PostgresConfiguration`.
public final class PostgresController: Sendable {
    public let settings: PostgresSettings
    let threadPool: NIOThreadPool
    let logger: Logger
    let onUnexpectedExit: @Sendable (Int32) -> Void
    let state = NIOLockedValueBox(PostmasterState())

    /// The pool size the agent should give the controller: 4 threads. The executor runs one
    /// action at a time, which may hold a thread for minutes (pg_basebackup, pg_rewind, a
    /// promotion); the HA loop's observe() needs one meanwhile; the REST API and readiness
    /// polls may need one or two more. The threads mostly wait on Postgres and child processes,
    /// so four cost little even on two cores.
    public static let recommendedThreadCount = 4

    /// The Postgres major version the controller manages.
    public static let majorVersion = 15

    /// `threadPool` must be started (and outlive the controller's use); it runs every blocking
    /// call. `onUnexpectedExit` receives the postmaster's exit status (or 128 + the signal)
    /// when it exits without `stop(_:timeout:)` or `fenceNow()`; it is called on a reaper
    /// thread and must not block.
    public init(settings: PostgresSettings, threadPool: NIOThreadPool, logger: Logger,
                onUnexpectedExit: @escaping @Sendable (Int32) -> Void) {
        self.settings = settings
        self.threadPool = threadPool
        var logger = logger
        logger[metadataKey: "postgres.member"] = "\(settings.memberName)"
        self.logger = logger
        self.onUnexpectedExit = onUnexpectedExit
    }

    /// The agent's monotonic clock in milliseconds (NIO's uptime clock), the time base of
    /// `PostgresProcess`'s instants.
    public static func now() -> Instant {
        Instant(.now())
    }

    /// The postmaster's pid while it runs (from spawn until it has exited).
    public var postmasterPID: Int32? { state.withLockedValue { $0.pid } }

    /// The process state: `.stopped`, `.starting(since:)` from spawn until `waitUntilReady` (or
    /// `observe`) saw it accept connections, `.running`, or `.crashed(at:)` when the child
    /// exited without `stop`/`fenceNow` (until the next start or stop).
    public var process: PostgresProcess { state.withLockedValue { $0.process } }

    // MARK: Start

    /// Renders the configuration for `mode` (see `PostgresConfiguration`), writes or removes
    /// `standby.signal`, and spawns the postmaster as this process's child (see the type's
    /// documentation). Returns once it is spawned; `process` is then `.starting(since:)`.
    /// Throws if Postgres already runs, the directory is not initialized, the settings are
    /// invalid, or a fence arrived during the spawn (the child is then stopped at once).
    public func start(_ mode: PostgresStartMode) async throws {
        let refusal: PostgresError? = state.withLockedValue { s in
            if let pid = s.pid {
                return PostgresError(.running, what: "starting Postgres was refused", location: settings.dataDirectory,
                                     detail: "the postmaster (pid \(pid)) runs", remedy: "stop it first")
            }
            if s.spawning {
                return PostgresError(.running, what: "starting Postgres was refused", location: settings.dataDirectory,
                                     detail: "another start is under way", remedy: "wait for it to return")
            }
            if let work = s.directoryWork {
                return PostgresError(.running, what: "starting Postgres was refused", location: settings.dataDirectory,
                                     detail: "\(work) is working on the data directory", remedy: "wait for it to return")
            }
            s.spawning = true
            s.fenceWhileSpawning = false
            return nil
        }
        if let refusal { throw refusal }
        let pid: pid_t
        do {
            let request = try await onPool { try self.prepareStart(mode) }
            pid = try await PostmasterSpawner.shared.spawn(request)
        } catch {
            state.withLockedValue { $0.spawning = false }
            throw error
        }
        let fenced = state.withLockedValue { s -> Bool in
            s.spawning = false
            s.pid = pid
            s.process = .starting(since: Self.now())
            s.exitExpected = s.fenceWhileSpawning
            if s.fenceWhileSpawning { kill(pid, SIGQUIT) }
            return s.fenceWhileSpawning
        }
        PostmasterReaper.watch(pid) { exit in self.childExited(pid, exit) }
        logger.info("postmaster spawned", metadata: ["postgres.pid": "\(pid)", "postgres.mode": "\(mode.description)"])
        if fenced {
            throw PostgresError(.fenced, what: "starting Postgres was cancelled by a fence", location: settings.dataDirectory,
                                detail: "fenceNow() arrived while the postmaster (pid \(pid)) was being spawned; it was sent SIGQUIT",
                                remedy: "nothing: the lease ran out; start again when the node may run Postgres")
        }
    }

    /// Blocking part of `start`: checks, configuration, the spawn request.
    private func prepareStart(_ mode: PostgresStartMode) throws -> PostmasterSpawner.Request {
        try checkSettings()
        let user = try PostgresOSUser.resolve(settings.runAs)
        let postgres = settings.binary("postgres")
        guard FileManager.default.isExecutableFile(atPath: postgres) else {
            throw PostgresError(.startFailed, what: "starting Postgres failed", location: postgres,
                                detail: "no executable postgres binary there",
                                remedy: "install Postgres \(Self.majorVersion) (Debian: postgresql-\(Self.majorVersion)) or correct binDirectory")
        }
        guard FileManager.default.fileExists(atPath: settings.dataDirectory + "/PG_VERSION") else {
            throw PostgresError(.startFailed, what: "starting Postgres failed", location: settings.dataDirectory,
                                detail: "the data directory holds no cluster (no PG_VERSION)",
                                remedy: "bootstrap a new cluster or rebuild this member from another one")
        }
        switch mode {
        case .primary: try writeConfiguration(standby: false, upstream: nil, user: user)
        case .standby(let upstream): try writeConfiguration(standby: true, upstream: upstream, user: user)
        }
        try user.createDirectory((settings.logFile as NSString).deletingLastPathComponent, mode: 0o700, onlyIfMissing: true)
        try user.createFileIfMissing(settings.logFile, mode: 0o600)
        return PostmasterSpawner.Request(
            executable: PostgresTool.setpriv,
            arguments: user.setprivArguments(pdeathsig: "QUIT") + [postgres, "-D", settings.dataDirectory],
            environment: PostgresTool.environment(extra: [:]), logFile: settings.logFile)
    }

    /// Called by the reaper thread while the exited child is still a zombie.
    private func childExited(_ pid: pid_t, _ exit: PostmasterExit) {
        let unexpected = state.withLockedValue { s -> Bool? in
            guard s.pid == pid else { return nil }
            s.pid = nil
            let expected = s.exitExpected
            s.exitExpected = false
            s.process = expected ? .stopped : .crashed(at: Self.now())
            return !expected
        }
        guard let unexpected else { return }
        if unexpected {
            logger.error("postmaster exited unexpectedly", metadata: [
                "postgres.pid": "\(pid)", "postgres.exit": "\(exit.description)", "postgres.log": "\(settings.logFile)",
            ])
            onUnexpectedExit(exit.shellStatus)
        } else {
            logger.info("postmaster exited", metadata: ["postgres.pid": "\(pid)", "postgres.exit": "\(exit.description)"])
        }
    }

    // MARK: Ready, stop, fence

    /// Polls (a libpq connect over the unix socket and `select 1`, every 50 ms) until Postgres
    /// accepts connections or `timeout` passes. True if ready; `process` is then `.running`.
    /// False at once if the postmaster exits meanwhile.
    public func waitUntilReady(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            guard let pid = postmasterPID else { return false }
            let answered = (try? await onPool { _ = try self.localSession(statementTimeout: .seconds(1)).rows("select 1") }) != nil
            if answered {
                markRunning(pid)
                return true
            }
            if clock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// `.starting` becomes `.running` once the postmaster `pid` answered a query.
    func markRunning(_ pid: pid_t) {
        state.withLockedValue { s in
            if s.pid == pid, case .starting = s.process { s.process = .running }
        }
    }

    /// Signals the postmaster (fast: SIGINT, immediate: SIGQUIT) and waits up to `timeout` for
    /// it to exit; then SIGKILL (and up to 10 s more). No-op if it does not run. Afterwards
    /// `process` is `.stopped` (also after a crash); the exit is not reported to
    /// `onUnexpectedExit`. A start under way is waited for first.
    public func stop(_ mode: PostgresStopMode, timeout: Duration) async {
        _ = await poll(timeout: .seconds(30)) { !self.state.withLockedValue { $0.spawning } }
        let pid: pid_t? = state.withLockedValue { s in
            guard let pid = s.pid else {
                if case .crashed = s.process { s.process = .stopped }
                return nil
            }
            _ = s.signal(mode.signal)
            return pid
        }
        guard let pid else { return }
        logger.info("stopping postgres", metadata: ["postgres.pid": "\(pid)", "postgres.stop": "\(mode)"])
        if await waitForExit(of: pid, timeout: timeout) { return }
        logger.warning("postmaster did not stop in time; killing it", metadata: [
            "postgres.pid": "\(pid)", "postgres.stop": "\(mode)", "postgres.timeout": "\(timeout)",
        ])
        state.withLockedValue { s in if s.pid == pid { _ = s.signal(SIGKILL) } }
        if !(await waitForExit(of: pid, timeout: .seconds(10))) {
            logger.error("postmaster survived SIGKILL for 10 s", metadata: ["postgres.pid": "\(pid)"])
        }
    }

    /// The fence: sends SIGQUIT (immediate shutdown) to the postmaster now. Callable from any
    /// thread (a lease timer); never blocks, suspends or starts a task — it takes the state
    /// lock briefly and calls kill(2). The exit is marked as expected (not a crash). If a start
    /// is in the middle of spawning, the new postmaster is sent SIGQUIT as soon as it exists and
    /// that start throws. Returns whether a postmaster was signalled (or a spawn under way was
    /// marked).
    public func fenceNow() -> Bool {
        state.withLockedValue { s in
            if s.signal(SIGQUIT) { return true }
            if s.spawning {
                s.fenceWhileSpawning = true
                return true
            }
            return false
        }
    }

    /// Polls until the postmaster `pid` has exited, up to `timeout`.
    private func waitForExit(of pid: pid_t, timeout: Duration) async -> Bool {
        await poll(timeout: timeout) { self.state.withLockedValue { $0.pid != pid } }
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes (or the task is
    /// cancelled); returns its last value.
    func poll(timeout: Duration, _ condition: @Sendable () -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !condition() {
            if clock.now >= deadline || Task.isCancelled { return condition() }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    // MARK: Queries

    /// Runs one SQL statement over the unix socket as the superuser (no statement timeout) and
    /// returns its rows, values as text (nil for NULL).
    public func query(_ sql: String) async throws -> [[String?]] {
        try await onPool { try self.localSession().rows(sql) }
    }

    /// A connection over the unix socket as the superuser. Blocking: pool only.
    func localSession(statementTimeout: Duration? = nil, connectTimeout: Int = 1) throws -> PostgresSession {
        var pairs = [
            ("host", settings.socketDirectory), ("port", "\(settings.port)"), ("user", settings.superuser.user),
            ("dbname", "postgres"), ("connect_timeout", "\(connectTimeout)"), ("application_name", "pgha"),
        ]
        if let statementTimeout {
            pairs.append(("options", "-c statement_timeout=\(statementTimeout.wholeMilliseconds)"))
        }
        return try PostgresSession(conninfo: PostgresConfiguration.conninfo(pairs),
                                   location: "\(settings.socketDirectory)/.s.PGSQL.\(settings.port)")
    }

    // MARK: Plumbing

    /// Runs `body` on the controller's thread pool.
    func onPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await threadPool.runIfActive(body)
        } catch is NIOThreadPoolError.ThreadPoolInactive {
            throw PostgresError(.controllerStopped, what: "the Postgres controller's thread pool is not running",
                                location: settings.dataDirectory, remedy: "start the NIOThreadPool before using the controller (a bug in the agent)")
        }
    }

    /// Throws if `PostgresSettings.validate(_:)` finds problems.
    func checkSettings() throws {
        let problems = PostgresSettings.validate(settings)
        guard problems.isEmpty else {
            throw PostgresError(.invalidSettings, what: "the Postgres settings are invalid", location: "member \(settings.memberName)",
                                detail: problems.joined(separator: "\n"), remedy: "correct the configuration")
        }
    }

    /// The timeline of a WAL file name (its first 8 hex digits, as `pg_walfile_name` prints it).
    static func timeline(ofWALFile name: String) -> UInt32? {
        name.utf8.count == 24 ? UInt32(name.prefix(8), radix: 16) : nil
    }

    /// The last lines of the Postgres log file, for errors. Blocking (a small read).
    func logTail() -> String {
        guard let handle = FileHandle(forReadingAtPath: settings.logFile) else { return "(no log at \(settings.logFile))" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 8192 ? size - 8192 : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return PostgresTool.tail(of: String(decoding: data, as: UTF8.self))
    }
}
