import ArgumentParser
import Foundation
import PGNode

/// `pgha switchover`: a planned change of primary (POST /switchover), now or at a time.
struct SwitchoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchover",
        abstract: "Hand the primary role to a replica in a planned way (like patronictl switchover).",
        discussion: """
        Without --force, asks on the terminal for what is missing and for confirmation. \
        The request goes to the leader's API; the answer line is printed (exit 1 if refused).
        """)

    @OptionGroup var api: APIOptions
    @Option(name: [.long, .customLong("primary")], help: "The current leader (default: the cluster's leader).") var leader: String?
    @Option(help: "The member to promote (default: the best replica).") var candidate: String?
    @Option(help: "When: an ISO 8601 time (a time without a zone is local time), or 'now'.") var scheduled: String?
    @Flag(help: "Do not ask for confirmation.") var force = false

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let info = try await endpoint.cluster()
        if !force { print("Current cluster topology\n" + MemberListing.render(info, format: .pretty)) }
        guard let current = info.leader else { throw CLIError("This cluster has no leader") }
        var leader = self.leader
        if leader == nil && !force && Terminal.isInteractive { leader = Terminal.ask("Primary [\(current.name)]: ", default: current.name) }
        let from = leader ?? current.name
        if from != current.name { throw CLIError("Member \(from) is not the leader of cluster \(info.name)") }
        let candidates = info.members.filter { $0.name != current.name && !ChangeOfPrimary.noFailover($0) }.map(\.name).sorted()
        if candidates.isEmpty { throw CLIError("No candidates found to switchover to") }
        var candidate = self.candidate
        if candidate == nil && !force && Terminal.isInteractive {
            candidate = Terminal.ask("Candidate \(candidates.map { "'\($0)'" }) []: ", default: nil)
        }
        if let candidate { try ChangeOfPrimary.check(candidate: candidate, leader: current.name, candidates: candidates, cluster: info.name) }
        var when = scheduled
        if when == nil && !force && Terminal.isInteractive {
            when = Terminal.ask("When should the switchover take place (e.g. \(ChangeOfPrimary.example)) [now]: ", default: "now")
        }
        let at = try when.flatMap(ChangeOfPrimary.schedule)
        if at != nil && info.paused { throw CLIError("Can't schedule switchover in the paused state") }
        if !force {
            let question = at.map { "Are you sure you want to schedule switchover of cluster \(info.name) at \($0), demoting current leader \(from)?" }
                ?? "Are you sure you want to switchover cluster \(info.name), demoting current leader \(from)?"
            guard try Terminal.confirm(question) else { throw CLIError("Aborting switchover") }
        }
        var body: [String: JSONValue] = ["leader": .string(from)]
        if let candidate { body["candidate"] = .string(candidate) }
        if let at { body["scheduled_at"] = .string(at) }
        let r = try await ChangeOfPrimary.post("/switchover", .object(body), info: info, endpoint: endpoint, action: "switchover")
        print(r.text)
    }
}

/// `pgha failover`: an unplanned change of primary to a named member (POST /failover).
struct FailoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Promote a named replica, also when the cluster has no healthy leader (like patronictl failover).")

    @OptionGroup var api: APIOptions
    @Option(help: "The member to promote.") var candidate: String?
    @Flag(help: ArgumentHelp("Do not ask for confirmation, and promote the candidate even when it is further behind than maximum_lag_on_failover or is not a synchronous standby.",
                             discussion: "What it may lose is printed: the bytes of WAL between the candidate's position and the last primary position the cluster recorded."))
    var force = false

    func run() async throws {
        let endpoint = try ClusterEndpoint(api)
        let info = try await endpoint.cluster()
        if !force { print("Current cluster topology\n" + MemberListing.render(info, format: .pretty)) }
        let leader = info.leader?.name
        let candidates = info.members.filter { $0.name != leader && !ChangeOfPrimary.noFailover($0) }.map(\.name).sorted()
        var candidate = self.candidate
        if candidate == nil && !force && Terminal.isInteractive {
            candidate = Terminal.ask("Candidate \(candidates.map { "'\($0)'" }) []: ", default: nil)
        }
        guard let candidate else { throw CLIError("Failover could be performed only to a specific candidate") }
        try ChangeOfPrimary.check(candidate: candidate, leader: leader, candidates: candidates, cluster: info.name)
        if !force {
            let question = leader.map { "Are you sure you want to failover cluster \(info.name), demoting current leader \($0)?" }
                ?? "Are you sure you want to failover cluster \(info.name)?"
            guard try Terminal.confirm(question) else { throw CLIError("Aborting failover") }
        }
        if force, let lag = info.member(candidate)?.lag {
            print("Forced failover to \(candidate): it is \(lag) bytes behind the last known primary position; up to \(lag) bytes of acknowledged writes may be lost.")
        }
        var body: [String: JSONValue] = ["candidate": .string(candidate)]
        if force { body["force"] = true }
        let r = try await ChangeOfPrimary.post("/failover", .object(body), info: info, endpoint: endpoint, action: "failover")
        print(r.text)
    }
}

/// What switchover and failover share.
enum ChangeOfPrimary {
    /// An hour from now as `2026-05-01T15:15`, for the prompt.
    static var example: String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm"
        return f.string(from: Date().addingTimeInterval(3600))
    }

    static func noFailover(_ m: ClusterInfo.Member) -> Bool {
        switch m.tags["nofailover"] {
        case .bool(true)?: return true
        case .string(let s)? where ["true", "yes", "on"].contains(s.lowercased()): return true
        default: return false
        }
    }

    static func check(candidate: String, leader: String?, candidates: [String], cluster: String) throws {
        if candidate == leader { throw CLIError("Member \(candidate) is already the leader of cluster \(cluster)") }
        if !candidates.contains(candidate) {
            throw CLIError("Member \(candidate) does not exist in cluster \(cluster) or is tagged as nofailover")
        }
    }

    /// `now` → nil; a time with a zone as given; a time without one in the local zone.
    static func schedule(_ text: String) throws -> String? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty || t.lowercased() == "now" { return nil }
        switch StatusDocuments.parseSchedule(t) {
        case .success: return t
        case .failure(.noTimeZone):
            let seconds = TimeZone.current.secondsFromGMT()
            let zone = String(format: "%@%02d:%02d", seconds < 0 ? "-" : "+", abs(seconds) / 3600, abs(seconds) % 3600 / 60)
            let local = t + zone
            if case .success = StatusDocuments.parseSchedule(local) { return local }
            fallthrough
        case .failure:
            throw CLIError("Unable to parse scheduled timestamp (\(t)). It should be in an unambiguous format (e.g. ISO 8601)")
        }
    }

    /// POSTs to the leader's API (the store routes the request from any member; the leader's
    /// is preferred), then to the endpoint that answered, then the configured ones.
    static func post(_ path: String, _ body: JSONValue, info: ClusterInfo, endpoint: ClusterEndpoint, action: String) async throws
        -> RESTClient.Response {
        var targets = [info.leader?.api, info.answeredBy].compactMap { $0 } + endpoint.endpoints
        var seen: Set<String> = []
        targets = targets.filter { seen.insert($0).inserted }
        // The API waits up to 30 s for the outcome.
        let wait = max(endpoint.timeout, .seconds(45))
        return try await endpoint.send(.POST, path, body: body, to: targets, action: action, timeout: wait)
    }
}
