import ArgumentParser
import Foundation
import PGNode

/// `pgha list`: the members as a table (patronictl list), once or refreshed in place.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the cluster's members: role, state, timeline and lag (like patronictl list).")

    @OptionGroup var api: APIOptions
    @Option(name: [.short, .long], help: "Output format: pretty, json or yaml.") var format: OutputFormat = .pretty
    @Flag(name: [.short, .long], help: "Show the LSN columns, pending and scheduled restarts and tags.") var extended = false
    @Flag(name: [.short, .long], help: "Refresh every SECONDS (default 2) until Ctrl-C.") var watch = false
    @Argument(help: ArgumentHelp("With --watch: seconds between refreshes.", valueName: "seconds")) var interval: Double?

    func validate() throws {
        if interval != nil && !watch { throw ValidationError("SECONDS is only meaningful with --watch (pgha list --watch 5)") }
        if let interval, interval <= 0 { throw ValidationError("--watch needs a positive number of seconds") }
    }

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        guard watch else {
            try await MemberListing.print(endpoint, format: format, extended: extended, topology: false)
            return
        }
        let every = interval ?? 2
        while true {
            let text: String
            do {
                text = try await MemberListing.render(endpoint, format: format, extended: extended, topology: false)
            } catch {
                text = "Error: \(error)"
            }
            let now = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeSeparator(.colon))
            print("\u{1B}[H\u{1B}[2J\(now)  (every \(every.formatted()) s, Ctrl-C to stop)\n\(text)")
            fflush(nil)
            try await Task.sleep(for: .milliseconds(Int64(every * 1000)))
        }
    }
}

/// `pgha topology`: the members as a tree, the leader first, replicas under the member they
/// replicate from.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Show the cluster's replication tree (like patronictl topology).")

    @OptionGroup var api: APIOptions
    @Option(name: [.short, .long], help: "Output format: pretty, json or yaml.") var format: OutputFormat = .pretty
    @Flag(name: [.short, .long], help: "Show the LSN columns, pending and scheduled restarts and tags.") var extended = false

    func run() async throws {
        try await MemberListing.print(try ClusterEndpoint(api), format: format, extended: extended, topology: true)
    }
}

/// The member table of `list`, `topology`, `switchover` and `failover`.
enum MemberListing {
    static func render(_ endpoint: ClusterEndpoint, format: OutputFormat, extended: Bool, topology: Bool) async throws -> String {
        render(try await endpoint.cluster(), format: format, extended: extended, topology: topology)
    }

    static func render(_ info: ClusterInfo, format: OutputFormat, extended: Bool = false, topology: Bool = false) -> String {
        let table = info.table
        switch format {
        case .pretty: return table.pretty(extended: extended, topology: topology)
        case .json: return table.records(topology: topology).prettyJSON
        case .yaml:
            var text = table.records(topology: topology).yamlText
            if text.hasSuffix("\n") { text.removeLast() }
            return text
        }
    }

    static func print(_ endpoint: ClusterEndpoint, format: OutputFormat, extended: Bool, topology: Bool) async throws {
        Swift.print(try await render(endpoint, format: format, extended: extended, topology: topology))
    }
}
