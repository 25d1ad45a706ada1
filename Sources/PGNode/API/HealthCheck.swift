import Foundation
import HACore

/// The health endpoints' answers (Patroni's paths and codes), as a pure function of the
/// agent's snapshot, whether this node's lease holds now, and the request's query.
///
/// Paths match exactly (Patroni matches substrings: `/xyz-leader` counts as `/leader` there);
/// an unknown path is not a health check (the API answers 404).
public enum HealthCheck {
    /// Every health path.
    public static let paths: Set<String> = [
        "/", "/primary", "/leader", "/master", "/read-write", "/standby-leader", "/standby_leader", "/replica",
        "/read-only", "/sync", "/synchronous", "/async", "/asynchronous", "/read-only-sync", "/health", "/liveness",
        "/readiness",
    ]

    /// How long the HA loop may go without completing a cycle before `/liveness` fails.
    public static let livenessBudgetMs: UInt64 = 10_000

    /// The status code for `path`; nil if `path` is not a health path. `now` is monotonic.
    public static func status(path: String, query: [String: String], snapshot s: AgentSnapshot?, leaseValid: Bool,
                              now: Instant) -> Int? {
        guard paths.contains(path) else { return nil }
        guard let s else { return 503 }
        let primaryOK = s.local.isRunningPrimary && s.raft.isLeader && leaseValid
        let replicaOK = replicaStatus(query: query, s) == 200
        switch path {
        case "/", "/primary", "/master", "/read-write":
            return primaryOK ? 200 : 503
        case "/leader":
            return s.raft.isLeader && leaseValid ? 200 : 503
        case "/standby-leader", "/standby_leader":
            return 503  // pgha has no standby clusters
        case "/replica":
            return replicaOK ? 200 : 503
        case "/read-only":
            return primaryOK || replicaOK ? (tagsMatch(query, s.member.tags) ? 200 : 503) : 503
        case "/sync", "/synchronous":
            return replicaOK && isSynchronous(s) ? 200 : 503
        case "/async", "/asynchronous":
            return replicaOK && !isSynchronous(s) ? 200 : 503
        case "/read-only-sync":
            return primaryOK || (replicaOK && isSynchronous(s)) ? 200 : 503
        case "/health":
            return s.local.process == .running && s.local.running != nil && tagsMatch(query, s.member.tags) ? 200 : 503
        case "/liveness":
            return now.milliseconds(since: s.at) <= livenessBudgetMs ? 200 : 503
        case "/readiness":
            if s.raft.isLeader && leaseValid && s.local.isRunningPrimary { return 200 }
            guard s.local.isRunningReplica, s.member.streaming else { return 503 }
            return lag(of: s, usingReceived: query["mode"] == "write") <= parseSize(query["lag"]) ?? s.cluster.config.maximumLagOnFailover ? 200 : 503
        default:
            return nil
        }
    }

    /// Whether this member is named in the `sync` key's claim (a synchronous or quorum standby).
    static func isSynchronous(_ s: AgentSnapshot) -> Bool {
        guard s.cluster.config.synchronousMode != .off, let sync = s.cluster.sync, sync.quorum > 0 else { return false }
        return sync.leader != s.member.name && sync.members.contains(s.member.name)
    }

    /// `/replica`: a running standby (streaming or not, as Patroni), within `?lag=`, not `noloadbalance`, with
    /// the `?tag_…=` tags asked for.
    static func replicaStatus(query: [String: String], _ s: AgentSnapshot) -> Int {
        guard s.local.isRunningReplica, !s.member.tags.noLoadBalance else { return 503 }
        if let state = query["replication_state"], state != (s.member.streaming ? "streaming" : "in archive recovery") { return 503 }
        if let limit = parseSize(query["lag"]), lag(of: s, usingReceived: false) > limit { return 503 }
        return tagsMatch(query, s.member.tags) ? 200 : 503
    }

    /// Bytes this standby's replayed (or received) WAL trails the newest primary position it knows.
    static func lag(of s: AgentSnapshot, usingReceived: Bool) -> UInt64 {
        let own = (usingReceived ? s.member.receivedLSN : s.member.replayedLSN) ?? s.member.lsn ?? .zero
        let primary = [s.cluster.lastPrimaryLSN, s.cluster.members.values.first { $0.role == .primary }?.walPosition, s.member.receivedLSN]
            .compactMap { $0 }.max() ?? own
        return primary.bytes(after: own)
    }

    /// Whether every `tag_<name>=<value>` in the query equals this member's tag (booleans as
    /// `true`/`false`).
    static func tagsMatch(_ query: [String: String], _ tags: Tags) -> Bool {
        for (k, v) in query where k.hasPrefix("tag_") {
            let name = String(k.dropFirst(4))
            let value: String?
            switch name {
            case "nofailover": value = String(tags.noFailover)
            case "noloadbalance": value = String(tags.noLoadBalance)
            case "failover_priority": value = String(tags.failoverPriority)
            default: value = tags.other[name]
            }
            guard value == v else { return false }
        }
        return true
    }

    /// Patroni's sizes: a whole number of bytes, optionally with a unit `B`, `kB`, `MB`, `GB`
    /// or `TB` (powers of 1024; case-sensitive as Postgres'). Nil for nil or for text that is
    /// not a size (Patroni then applies no limit; so does pgha).
    public static func parseSize(_ text: String?) -> UInt64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        let units: [(String, UInt64)] = [("kB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40), ("B", 1)]
        for (unit, factor) in units where text.hasSuffix(unit) {
            guard let n = UInt64(text.dropLast(unit.count).trimmingCharacters(in: .whitespaces)) else { return nil }
            return n.multipliedReportingOverflow(by: factor).overflow ? nil : n * factor
        }
        return UInt64(text)
    }
}
