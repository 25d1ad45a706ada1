import ArgumentParser
import Foundation
import PGNode

/// `pgha pause`: maintenance mode on (PATCH /config {"pause": true}).
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Put the cluster in maintenance mode: no automatic failover, Postgres is left alone.")

    @OptionGroup var api: APIOptions
    @Flag(help: "Wait until every member reports the pause.") var wait = false

    func run() async throws {
        try await MaintenanceMode.set(true, endpoint: try ClusterEndpoint(api), wait: wait)
    }
}

/// `pgha resume`: maintenance mode off (PATCH /config {"pause": null}).
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "End maintenance mode: the agents manage Postgres again.")

    @OptionGroup var api: APIOptions
    @Flag(help: "Wait until every member reports that the pause ended.") var wait = false

    func run() async throws {
        try await MaintenanceMode.set(false, endpoint: try ClusterEndpoint(api), wait: wait)
    }
}

enum MaintenanceMode {
    /// How long `--wait` waits for every member.
    static let waitLimit: Duration = .seconds(120)

    static func set(_ paused: Bool, endpoint: ClusterEndpoint, wait: Bool) async throws {
        let info = try await endpoint.cluster()
        if info.paused == paused { throw CLIError(paused ? "cluster is already paused" : "cluster is not paused") }
        try await endpoint.send(.PATCH, "/config", body: ["pause": paused ? .bool(true) : .null], to: [info.answeredBy] + endpoint.endpoints,
                                action: paused ? "pause" : "resume")
        if wait {
            print("'\(paused ? "pause" : "resume")' request sent, waiting until it is recognized by all members")
            fflush(nil)
            let deadline = ContinuousClock.now + waitLimit
            var pending = info.members
            while true {
                var still: [ClusterInfo.Member] = []
                for m in pending {
                    guard let api = m.api,
                          let r = try? await RESTClient.request(url: api + "/patroni", timeout: endpoint.timeout,
                                                                insecure: endpoint.insecure, caFile: endpoint.caFile),
                          let doc = JSONValue(parsing: r.body), (doc["pause"]?.boolValue ?? false) == paused else {
                        still.append(m)
                        continue
                    }
                }
                pending = still
                if pending.isEmpty { break }
                if ContinuousClock.now >= deadline {
                    throw CLIError("after \(waitLimit.components.seconds) s, \(pending.map(\.name).joined(separator: ", ")) "
                        + "still \(paused ? "do not report the pause" : "report the pause")")
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
        print("Success: cluster management is \(paused ? "paused" : "resumed")")
    }
}
