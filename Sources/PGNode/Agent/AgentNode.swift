import Foundation
import HACore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore

/// Everything `pgha run` runs in one process: the store node (Raft, transport, client
/// endpoint), the Postgres controller with its own thread pool, the lease fence on an event
/// loop of its own, and the HA loop.
///
/// Threads: the Raft runtime has one event loop to itself; the lease fence another; Postgres
/// work (libpq, initdb, pg_basebackup, pg_rewind) runs on `postgresThreads` pool threads; the
/// HA loop and the reports are async code that only awaits those. So a slow query or a long
/// base backup can delay a decision, never a heartbeat or the fence.
public final class AgentNode: Sendable {
    /// Threads of the Postgres controller's pool: one for a long tool run (a base backup), one
    /// for the HA loop's observation, one for a status round's observation and one spare for
    /// queries, so none of them waits behind another.
    public static let postgresThreads = 4

    public let config: AgentConfig
    public let agent: Agent
    public let store: StoreNode
    public let postgres: PostgresController
    public let fence: LeaseFence
    /// The agent's metrics (served at `GET /metrics`).
    public let metrics: AgentMetrics
    /// The REST API server (nil when it could not be started: see the log).
    public let rest: RESTServer?
    private let client: StoreClient
    private let threadPool: NIOThreadPool
    private let fenceLoop: MultiThreadedEventLoopGroup
    private let loopTask: NIOLockedValueBox<Task<Void, Never>?>
    private let guardLink: FenceGuardLink?

    private init(config: AgentConfig, agent: Agent, store: StoreNode, postgres: PostgresController, fence: LeaseFence,
                 metrics: AgentMetrics, rest: RESTServer?, client: StoreClient, threadPool: NIOThreadPool,
                 fenceLoop: MultiThreadedEventLoopGroup, guardLink: FenceGuardLink?) {
        self.guardLink = guardLink
        self.metrics = metrics
        self.rest = rest
        self.config = config
        self.agent = agent
        self.store = store
        self.postgres = postgres
        self.fence = fence
        self.client = client
        self.threadPool = threadPool
        self.fenceLoop = fenceLoop
        self.loopTask = NIOLockedValueBox(nil)
    }

    /// Starts every part and the HA loop. `binDirectory` is where the Postgres binaries are
    /// (see `PostgresBinaries.locate`).
    /// `guardExecutable` is the `pgha` binary that runs the fence guard (`pgha guard`); nil
    /// runs without one (tests of other parts only: a frozen agent is then not fenced).
    public static func start(_ config: AgentConfig, binDirectory: String, rejoin: Bool, logger: Logger,
                             guardExecutable: String? = FenceGuardLink.ownExecutable()) async throws -> AgentNode {
        let threadPool = NIOThreadPool(numberOfThreads: postgresThreads)
        threadPool.start()
        let agentSlot = NIOLockedValueBox<Agent?>(nil)
        let p = config.postgres
        let settings = PostgresSettings(
            memberName: config.name, binDirectory: binDirectory, dataDirectory: p.dataDirectory, listenHost: p.listenHost,
            port: p.port, socketDirectory: p.socketDirectory, logFile: p.logFile, parameters: p.parameters,
            superuser: PostgresCredentials(user: p.superuserName, password: p.superuserPassword),
            replication: PostgresCredentials(user: p.replicationName, password: p.replicationPassword),
            pgHba: p.pgHba, runAs: p.runAs)
        let postgres = PostgresController(settings: settings, threadPool: threadPool, logger: logger) { status in
            logger.warning("the postmaster exited unexpectedly", metadata: ["postgres.exit": "\(status)"])
            agentSlot.withLockedValue { $0 }?.wake()
        }
        let store: StoreNode
        do {
            store = try await StoreNode.start(config.store, rejoin: rejoin, group: MultiThreadedEventLoopGroup.singleton,
                                              logger: logger) {
                await agentSlot.withLockedValue { $0 }?.freshStatusJSON()
            }
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        var clientConfig = StoreClientConfig(clusterName: config.store.cluster, secret: config.store.secret,
                                             endpoints: config.store.clientEndpoints())
        clientConfig.attemptTimeout = .seconds(2)
        clientConfig.requestTimeout = .seconds(5)
        let client = StoreClient(config: clientConfig, group: MultiThreadedEventLoopGroup.singleton, logger: quiet)
        let guardLink = guardExecutable.map {
            FenceGuardLink(executable: $0, arguments: ["guard", "--data-dir", config.postgres.dataDirectory], logger: logger)
        }
        try guardLink?.start()
        let watchdog = Watchdog(settings: config.watchdog, logger: logger)
        let watchdogTimeout = config.watchdog.timeoutSeconds(
            minimumElectionTimeout: .milliseconds(config.store.tickMilliseconds * config.store.electionTicks))
        // The guard is armed before a primary is started, while its pid is not known yet, for
        // the data directory (it watches the postmaster postmaster.pid names): an agent frozen
        // between the spawn and `arm(pid:)` cannot leave a primary unguarded. Found by the HA
        // simulator (a start as primary, then an agent freeze past the lease).
        let hooks = FenceHooks(
            arm: { pid, deadline in
                do { try watchdog.activate(timeoutSeconds: watchdogTimeout) } catch { return false }
                if let pid { guardLink?.arm(pid: pid, deadline: deadline) } else { guardLink?.armDataDirectory(deadline: deadline) }
                return true
            },
            renew: { deadline in
                guardLink?.renew(deadline: deadline)
                watchdog.keepalive()
            },
            disarm: {
                guardLink?.disarm()
                watchdog.disable()
            })
        let fenceLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runtime = store.runtime
        let fence = LeaseFence(loop: fenceLoop.next(), lease: { runtime.leaderLeaseFuture() },
                               fenceNow: { postgres.fenceNow() }, hooks: hooks, logger: logger) { _ in
            agentSlot.withLockedValue { $0 }?.wake()
        }
        let agent = Agent(config: config, runtime: runtime, client: client, postgres: postgres, fence: fence, logger: logger)
        agentSlot.withLockedValue { $0 = agent }
        fence.start()
        let metrics = AgentMetrics(scope: config.store.cluster, member: config.name)
        runtime.observePersistDurations { metrics.recordPersist($0) }
        let api = RESTAPI(backend: AgentRESTBackend(config: config, agent: agent, fence: fence, client: client, metrics: metrics),
                          settings: config.rest, logger: logger) { metrics.recordRequest(path: $0, status: $1) }
        let rest: RESTServer?
        do {
            rest = try await RESTServer.start(api: api, settings: config.rest, logger: logger)
        } catch {
            // The agent keeps Postgres safe without its API; say so loudly.
            logger.error("the REST API did not start; the agent runs without it", metadata: ["error": "\(error)"])
            rest = nil
        }
        let node = AgentNode(config: config, agent: agent, store: store, postgres: postgres, fence: fence, metrics: metrics,
                             rest: rest, client: client, threadPool: threadPool, fenceLoop: fenceLoop, guardLink: guardLink)
        node.loopTask.withLockedValue { $0 = Task { await agent.run() } }
        return node
    }

    /// Stops Postgres cleanly (a primary hands leadership over first), then every part.
    public func shutdown() async {
        await rest?.shutdown()
        await agent.stop()
        await loopTask.withLockedValue { $0 }?.value
        await fence.stop()
        guardLink?.disarm()
        guardLink?.stop()
        await client.close()
        await store.shutdown()
        try? await threadPool.shutdownGracefully()
        try? await fenceLoop.shutdownGracefully()
    }
}

/// Finding the Postgres server binaries.
public enum PostgresBinaries {
    /// `configured` if given (it must hold `postgres`), else `pg_config --bindir` if that holds
    /// the server, else the newest `/usr/lib/postgresql/<major>/bin`. Throws a message that
    /// says how to install them.
    public static func locate(configured: String?) throws -> String {
        let fm = FileManager.default
        func hasServer(_ dir: String) -> Bool {
            ["postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_controldata"]
                .allSatisfy { fm.isExecutableFile(atPath: dir + "/" + $0) }
        }
        if let configured {
            guard hasServer(configured) else {
                throw StartRefused(reason: "postgresql.bin_dir \(configured) does not hold the Postgres server binaries "
                    + "(postgres, initdb, pg_ctl, pg_basebackup, pg_rewind, pg_controldata)")
            }
            return configured
        }
        if let fromPgConfig = pgConfigBindir(), hasServer(fromPgConfig) { return fromPgConfig }
        let base = "/usr/lib/postgresql"
        let majors = ((try? fm.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted(by: >)
        for m in majors where hasServer("\(base)/\(m)/bin") { return "\(base)/\(m)/bin" }
        throw StartRefused(reason: "the PostgreSQL server binaries were not found (looked at pg_config --bindir and "
            + "/usr/lib/postgresql/*/bin). Install them, for example on Debian or Ubuntu: apt-get install postgresql-15 "
            + "(then `systemctl disable --now postgresql` so the packaged server does not run beside pgha), or set "
            + "postgresql.bin_dir.")
    }

    private static func pgConfigBindir() -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["pg_config", "--bindir"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
