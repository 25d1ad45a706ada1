import ArgumentParser
import Foundation
import PGNode

/// `pgha history`: the timeline history (GET /history).
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Show the cluster's timeline history: which member became primary, when and why.")

    @OptionGroup var api: APIOptions
    @Option(name: [.short, .long], help: "Output format: pretty, json or yaml.") var format: OutputFormat = .pretty

    func run() async throws {
        let table = HistoryTable(history: try await ClusterEndpoint(api).document("/history").doc)
        if format == .pretty { print(table.pretty()) } else { printDocument(table.records(), format) }
    }
}

/// `pgha show-config`: the dynamic configuration (GET /config) as YAML.
struct ShowConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show-config", abstract: "Show the cluster's dynamic configuration.")

    @OptionGroup var api: APIOptions
    @Option(name: [.short, .long], help: "Output format: pretty (YAML), json or yaml.") var format: OutputFormat = .pretty

    func run() async throws {
        printDocument(try await ClusterEndpoint(api).document("/config").doc, format)
    }
}

/// `pgha edit-config`: changes the dynamic configuration with a merge patch (PATCH /config).
struct EditConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit-config",
        abstract: "Change the cluster's dynamic configuration.",
        discussion: """
        With --set or --pg, applies those; otherwise opens $EDITOR on the YAML. Shows the \
        difference and asks before applying (--force does not ask). Values are YAML scalars: \
        true, 30, '30' (a string), null (removes the key).
        """)

    @OptionGroup var api: APIOptions
    @Option(name: [.short, .customLong("set")], help: ArgumentHelp("Set a key: ttl=30, postgresql.use_pg_rewind=true (repeatable).", valueName: "key.path=value"))
    var sets: [String] = []
    @Option(name: [.short, .long], help: ArgumentHelp("Set a Postgres parameter: max_connections=200 (repeatable).", valueName: "name=value"))
    var pg: [String] = []
    @Flag(help: "Apply without asking.") var force = false
    @Flag(name: [.short, .long], help: "Do not show the difference.") var quiet = false

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let (current, from) = try await endpoint.document("/config")
        let patch: JSONValue
        let next: JSONValue
        if sets.isEmpty && pg.isEmpty {
            let edited = try Self.edit(current)
            guard case .object = edited else { throw CLIError("the edited configuration must be a YAML mapping") }
            next = edited
            patch = ConfigPatch.difference(from: current, to: edited)
        } else {
            do { patch = try ConfigPatch.from(sets: sets, pg: pg) } catch { throw CLIError("\(error)") }
            next = current.merged(with: patch)
        }
        if next == current || ConfigPatch.isEmpty(patch) {
            print("Not changed")
            return
        }
        if !quiet { print(try Self.diff(current.yamlText, next.yamlText), terminator: "") }
        if !force { guard try Terminal.confirm("Apply these changes?") else { throw CLIError("Aborted: the configuration was not changed") } }
        try await endpoint.send(.PATCH, "/config", body: patch, to: [from] + endpoint.endpoints, action: "configuration change")
        print("Configuration changed")
    }

    /// Opens $VISUAL or $EDITOR (default vi) on the YAML and reads back what was saved.
    static func edit(_ config: JSONValue) throws -> JSONValue {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgha-edit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("config.yaml")
        try config.yamlText.write(to: file, atomically: true, encoding: .utf8)
        let env = ProcessInfo.processInfo.environment
        let editor = env["VISUAL"].flatMap { $0.isEmpty ? nil : $0 } ?? env["EDITOR"].flatMap { $0.isEmpty ? nil : $0 } ?? "vi"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The editor may carry arguments ("code --wait").
        p.arguments = ["-c", "\(editor) \"$1\"", "editor", file.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIError("the editor (\(editor)) exited with status \(p.terminationStatus)") }
        let text = try String(contentsOf: file, encoding: .utf8)
        do { return try JSONValue(yaml: text) } catch { throw CLIError("the edited configuration is not valid YAML: \(error)") }
    }

    /// `diff -u` of the two texts.
    static func diff(_ before: String, _ after: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgha-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("before"), b = dir.appendingPathComponent("after")
        try before.write(to: a, atomically: true, encoding: .utf8)
        try after.write(to: b, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["diff", "-u", "--label", "current", "--label", "new", a.path, b.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// `pgha haproxy-config`: an HAProxy configuration for the cluster's current members.
struct HAProxyConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "haproxy-config",
        abstract: "Print an HAProxy configuration: a read-write port to the primary, a read-only port to the replicas.")

    @OptionGroup var api: APIOptions
    @Option(help: "The read-write port (the primary).") var primaryPort = 5000
    @Option(help: "The read-only port (the replicas).") var replicaPort = 5001
    @Option(help: "The address HAProxy listens on.") var bind = "127.0.0.1"

    func run() async throws {
        let info = try await ClusterEndpoint(api).cluster()
        var config = HAProxyConfig(cluster: info.doc)
        config.primaryPort = primaryPort
        config.replicaPort = replicaPort
        config.bind = bind
        print(config.text, terminator: "")
    }
}
