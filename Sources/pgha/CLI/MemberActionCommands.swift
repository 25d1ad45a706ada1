import ArgumentParser
import Foundation
import PGNode

/// `pgha restart MEMBER`: restarts the member's Postgres in its role (POST /restart on its API).
struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart", abstract: "Restart a member's Postgres (through its agent).")

    @OptionGroup var api: APIOptions
    @Argument(help: "The member.") var member: String
    @Option(help: "Restart at this time (ISO 8601 with a time zone, e.g. 2026-12-24T03:00+00:00) instead of now.") var scheduled: String?
    @Flag(help: "Cancel the member's scheduled restart.") var cancel = false
    @Flag(help: "Do not ask for confirmation.") var force = false

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let info = try await endpoint.cluster()
        let url = try info.api(of: member)
        if cancel {
            try await endpoint.send(.DELETE, "/restart", body: [:], to: [url], action: "cancelling the restart of \(member)")
            print("Success: scheduled restart of member \(member) cancelled")
            return
        }
        if let scheduled {
            if !force { guard try Terminal.confirm("Schedule a restart of member \(member) at \(scheduled)?") else { throw CLIError("Aborted restart") } }
            try await endpoint.send(.POST, "/restart", body: ["schedule": .string(scheduled)], to: [url], action: "scheduling a restart of \(member)")
            print("Success: restart of member \(member) scheduled at \(scheduled)")
            return
        }
        if !force { guard try Terminal.confirm("Are you sure you want to restart member \(member)?") else { throw CLIError("Aborted restart") } }
        // The restart is synchronous: Postgres stops and starts before the answer.
        try await endpoint.send(.POST, "/restart", body: [:], to: [url], action: "restart of \(member)",
                                timeout: max(endpoint.timeout, .seconds(300)))
        print("Success: restart on member \(member)")
    }
}

/// `pgha reload [MEMBER]`: reloads Postgres's configuration on one member or all (POST /reload).
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Reload the Postgres configuration of a member, or of every member.")

    @OptionGroup var api: APIOptions
    @Argument(help: "The member (default: every member).") var member: String?
    @Flag(help: "Do not ask for confirmation.") var force = false

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let info = try await endpoint.cluster()
        let names = member.map { [$0] } ?? info.members.map(\.name)
        let targets = try names.map { ($0, try info.api(of: $0)) }
        if !force {
            guard try Terminal.confirm("Are you sure you want to reload members \(names.joined(separator: ", "))?") else {
                throw CLIError("Aborted reload")
            }
        }
        var failed: [String] = []
        for (name, url) in targets {
            do {
                try await endpoint.send(.POST, "/reload", to: [url], action: "reload of \(name)")
                print("Reload request received for member \(name) and will be processed by its agent")
            } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                failed.append(name)
            }
        }
        if !failed.isEmpty { throw CLIError("reload failed on \(failed.joined(separator: ", "))") }
    }
}

/// `pgha reinit MEMBER`: rebuilds a replica from the primary (POST /reinitialize on its API).
struct ReinitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reinit", abstract: "Rebuild a replica's data with a fresh base backup (from a running member tagged clonefrom, else the primary).")

    @OptionGroup var api: APIOptions
    @Argument(help: "The member (a replica).") var member: String
    @Flag(help: "Do not ask for confirmation.") var force = false

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let info = try await endpoint.cluster()
        let url = try info.api(of: member)
        if info.leader?.name == member { throw CLIError("member \(member) is the leader: only a replica can be reinitialized") }
        if !force {
            guard try Terminal.confirm("Are you sure you want to reinitialize member \(member)? Its data directory is replaced.") else {
                throw CLIError("Aborted reinitialize")
            }
        }
        let r = try await endpoint.send(.POST, "/reinitialize", body: [:], to: [url], action: "reinitialize of \(member)")
        print("Success: reinitialize for member \(member)\(r.text.isEmpty ? "" : " (\(r.text))")")
    }
}

/// `pgha flush switchover`: cancels a scheduled switchover (DELETE /switchover).
struct FlushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush", abstract: "Cancel a scheduled switchover.")

    enum Target: String, ExpressibleByArgument, CaseIterable { case switchover }

    @OptionGroup var api: APIOptions
    @Argument(help: "What to cancel: switchover.") var target: Target

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let info = try await endpoint.cluster()
        let targets = [info.leader?.api, info.answeredBy].compactMap { $0 } + endpoint.endpoints
        let r = try await endpoint.send(.DELETE, "/switchover", to: targets, action: "flush switchover")
        print("Success: \(r.text)")
    }
}
