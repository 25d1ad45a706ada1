import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PGNode
import RaftCore

/// `pgha store …`: run a node of the replicated cluster store, or talk to one.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "The replicated cluster store (pgha's built-in replacement for etcd).",
        subcommands: [StoreRun.self, StoreGet.self, StorePut.self, StoreDelete.self, StoreList.self, StoreStatus.self]
    )
}

/// Options shared by the client subcommands.
struct StoreClientOptions: ParsableArguments {
    @Option(help: "A store node configuration file (its cluster, secret and peers are used).")
    var config: String

    func makeClient(group: any EventLoopGroup) throws -> (StoreClient, StoreNodeConfig) {
        let node = try loadStoreConfig(config)
        let endpoints = node.clientEndpoints()
        var logger = Logger(label: "pgha.client")
        logger.logLevel = .error
        let client = StoreClient(config: StoreClientConfig(clusterName: node.cluster, secret: node.secret, endpoints: endpoints),
                                 group: group, logger: logger)
        return (client, node)
    }
}

func loadStoreConfig(_ path: String) throws -> StoreNodeConfig {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ValidationError("cannot read config file \(path): \(error.localizedDescription)")
    }
    do {
        return try StoreNodeConfig.parse(yaml: text, environment: ProcessInfo.processInfo.environment) { file in
            try String(contentsOfFile: file, encoding: .utf8)
        }
    } catch {
        throw ValidationError("\(path): \(error)")
    }
}

/// `pgha store run`: one node, until SIGINT or SIGTERM.
struct StoreRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run one store node.")

    @Option(help: "The node's configuration file (YAML).") var config: String
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Flag(help: "Start with an empty data directory although this node was a member before (its disk was lost or emptied): it neither votes nor campaigns until its log has caught up with a leader's commit index.")
    var rejoin = false

    func run() async throws {
        let node = try loadStoreConfig(config)
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        bootstrapLogging(level)
        let logger = Logger(label: "pgha.store.n\(node.node.rawValue)")
        let store = try await StoreNode.start(node, rejoin: rejoin, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        print("pgha store node \(node.node.rawValue) of \(node.cluster) ready: raft \(node.me.raft), clients \(node.me.client)")
        fflush(nil)

        let signal = await waitForTerminationSignal()
        logger.info("shutting down", metadata: ["signal": "\(signal)"])
        await store.shutdown()
    }
}

/// Suspends until SIGINT or SIGTERM arrives; returns its name.
func waitForTerminationSignal() async -> String {
    await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
        let fired = NIOLockedValueBox(false)
        var sources: [any DispatchSourceSignal] = []
        for (sig, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let first = fired.withLockedValue { f -> Bool in defer { f = true }; return !f }
                if first { continuation.resume(returning: name) }
            }
            source.resume()
            sources.append(source)
        }
        // Keep the sources alive for the life of the process.
        SignalSources.keep(sources)
    }
}

enum SignalSources {
    nonisolated(unsafe) private static var kept: [any DispatchSourceSignal] = []
    static func keep(_ s: [any DispatchSourceSignal]) { kept += s }
}

/// Prints a value for the command line: UTF-8 text as is, anything else as hex.
func printable(_ bytes: [UInt8]) -> String {
    if let s = String(validating: bytes, as: UTF8.self) { return s }
    return bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

struct StoreGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Read a key (linearizable unless --stale).")
    @OptionGroup var options: StoreClientOptions
    @Argument(help: "The key.") var key: String
    @Flag(help: "Read from any node's applied state instead of confirming with the leader.") var stale = false

    func run() async throws {
        let (client, _) = try options.makeClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.close() } }
        guard let v = try await client.get(key, linearizable: !stale) else {
            FileHandle.standardError.write(Data("\(key): not found\n".utf8))
            throw ExitCode(1)
        }
        print(printable(v.value))
        FileHandle.standardError.write(Data("revision \(v.modRevision), created \(v.createRevision), version \(v.version)\n".utf8))
    }
}

/// Exit codes of `put` and `delete`, which a script needs to tell apart.
enum WriteExitCode {
    /// The write was not applied (refused, or its revision condition failed).
    static let notApplied: Int32 = 1
    /// The write may or may not have been applied (timeout, connection lost, node stopped).
    static let outcomeUnknown: Int32 = 3

    static let discussion = """
        Exit status: 0 written (the revision is printed); 1 not applied (safe to retry); \
        3 outcome unknown: the request reached the cluster but no answer settled it (timeout, \
        connection lost, node stopped), so the write may or may not have been applied; read \
        the key back to find out.
        """

    /// Reports a failed write on standard error and exits with the matching code.
    static func fail(_ error: StoreWriteError, key: String, config: String) -> ExitCode {
        switch error {
        case .notApplied(let e):
            FileHandle.standardError.write(Data("Error: \(e); the write was not applied.\n".utf8))
            return ExitCode(notApplied)
        case .outcomeUnknown(let reason):
            FileHandle.standardError.write(Data(("Error: outcome unknown: \(reason). The write may or may not have "
                + "been applied; read the key back (pgha store get --config \(config) \(key)) to find out.\n").utf8))
            return ExitCode(outcomeUnknown)
        }
    }
}

struct StorePut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "put", abstract: "Write a key.",
                                                    discussion: WriteExitCode.discussion)
    @OptionGroup var options: StoreClientOptions
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value (UTF-8 text).") var value: String
    @Option(help: "Only if the key's revision is this (0: only if absent).") var expectRevision: UInt64?

    func run() async throws {
        let (client, _) = try options.makeClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.close() } }
        let rev: UInt64
        do {
            rev = try await client.put(key, Array(value.utf8), expectedRevision: expectRevision)
        } catch {
            throw WriteExitCode.fail(error, key: key, config: options.config)
        }
        print("revision \(rev)")
    }
}

struct StoreDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key.",
                                                    discussion: WriteExitCode.discussion)
    @OptionGroup var options: StoreClientOptions
    @Argument(help: "The key.") var key: String
    @Option(help: "Only if the key's revision is this.") var expectRevision: UInt64?

    func run() async throws {
        let (client, _) = try options.makeClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.close() } }
        let rev: UInt64
        do {
            rev = try await client.delete(key, expectedRevision: expectRevision)
        } catch {
            throw WriteExitCode.fail(error, key: key, config: options.config)
        }
        print("revision \(rev)")
    }
}

struct StoreList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys by prefix.")
    @OptionGroup var options: StoreClientOptions
    @Argument(help: "The key prefix (empty: everything).") var prefix: String = ""
    @Flag(help: "Read from any node's applied state.") var stale = false

    func run() async throws {
        let (client, _) = try options.makeClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.close() } }
        let (rev, items) = try await client.list(prefix: prefix, linearizable: !stale)
        for i in items { print("\(i.key)\t\(i.value.modRevision)\t\(printable(i.value.value))") }
        FileHandle.standardError.write(Data("\(items.count) keys at revision \(rev)\n".utf8))
    }
}

struct StoreStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show every node's Raft status.")
    @OptionGroup var options: StoreClientOptions

    func run() async throws {
        let (client, node) = try options.makeClient(group: MultiThreadedEventLoopGroup.singleton)
        defer { Task { await client.close() } }
        print("node  role           term  leader  commit  applied  lease  endpoint")
        for p in node.peers {
            do {
                let s = try await client.status(of: p.id)
                print("\(String(p.id.rawValue).padding(toLength: 5)) \(s.role.description.padding(toLength: 14)) \(String(s.term.rawValue).padding(toLength: 5)) \((s.leader.map { "\($0.rawValue)" } ?? "-").padding(toLength: 7)) \(String(s.commit.rawValue).padding(toLength: 7)) \(String(s.applied.rawValue).padding(toLength: 8)) \((s.hasLease ? "yes" : "no").padding(toLength: 6)) \(p.client)")
            } catch {
                print("\(String(p.id.rawValue).padding(toLength: 5)) unreachable    \(p.client) (\(error))")
            }
        }
    }
}
