import ArgumentParser
import Foundation
import Logging
import PGNode

/// `pgha run`: the agent — store node, Postgres controller, lease fence and HA loop in one process.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pgha agent of this host: Raft node, cluster store, Postgres under HA control.",
        discussion: """
        Until SIGINT or SIGTERM; then Postgres is stopped cleanly (a primary first hands Raft \
        leadership to the best replica). See `AgentConfig` in the README for the file's keys; \
        PGHA_<PATH> environment variables override them (PGHA_POSTGRESQL_DATA_DIR, …).
        """)

    @Option(help: "The agent's configuration file (YAML).") var config: String
    @Flag(help: "Only check the configuration file: name each bad key and why, then exit (0 if it is valid).")
    var validate = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Flag(help: "The Raft data directory was lost: rejoin without voting until the log caught up (see `pgha store run --rejoin`).")
    var rejoin = false

    func run() async throws {
        let agentConfig = try loadAgentConfig(config)
        let bin: String
        do { bin = try PostgresBinaries.locate(configured: agentConfig.postgres.binDirectory) } catch {
            if validate { print("\(config): postgresql.bin_dir: \(error)") }
            throw error
        }
        if validate {
            print("\(config): valid. Member \(agentConfig.name) (node \(agentConfig.store.node.rawValue)) of cluster "
                + "\(agentConfig.store.cluster); Postgres \(agentConfig.postgres.listenHost):\(agentConfig.postgres.port), "
                + "data \(agentConfig.postgres.dataDirectory), binaries \(bin)")
            return
        }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        bootstrapLogging(level)
        let logger = Logger(label: "pgha.\(agentConfig.name)")
        let node = try await AgentNode.start(agentConfig, binDirectory: bin, rejoin: rejoin, logger: logger)
        print("pgha agent \(agentConfig.name) of \(agentConfig.store.cluster) running (node \(agentConfig.store.node.rawValue), "
            + "Postgres \(agentConfig.postgres.listenHost):\(agentConfig.postgres.port))")
        fflush(nil)
        let signal = await waitForTerminationSignal()
        logger.notice("shutting down", metadata: ["signal": "\(signal)"])
        await node.shutdown()
    }
}

/// Reads and validates an agent configuration file; every bad key is named.
func loadAgentConfig(_ path: String) throws -> AgentConfig {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ValidationError("cannot read config file \(path): \(error.localizedDescription)")
    }
    do {
        return try AgentConfig.parse(yaml: text, environment: ProcessInfo.processInfo.environment, isRoot: geteuid() == 0) { file in
            try String(contentsOfFile: file, encoding: .utf8)
        }
    } catch {
        throw StartRefused(reason: error.problems.map { "\(path): \($0)" }.joined(separator: "\n"))
    }
}

/// Logs to standard error at `level`.
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
}
