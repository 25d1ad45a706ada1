/// Failover placement (DESIGN.md, failover step 3): among the members' statuses, the best new
/// primary. A candidate is a running standby of this cluster whose tags allow promotion and
/// whose WAL reaches within `maximum_lag_on_failover` of the last primary position recorded in
/// the store. Candidates rank by timeline (newest first), then WAL position (most advanced
/// first), then `failover_priority` (highest first), then name (so every node ranks alike).
public struct Placement: Sendable {
    /// Candidates, best first.
    public let ranked: [MemberStatus]
    /// Members that are not candidates, and why.
    public let excluded: [String: String]

    public init(statuses: [MemberStatus], cluster: ClusterView) {
        var ranked: [MemberStatus] = []
        var excluded: [String: String] = [:]
        for s in statuses {
            if let why = Self.exclusion(s, cluster) { excluded[s.name] = why } else { ranked.append(s) }
        }
        ranked.sort(by: Self.better)
        self.ranked = ranked
        self.excluded = excluded
    }

    /// The best candidate, if any.
    public var best: MemberStatus? { ranked.first }

    /// Whether `member` is a candidate at all.
    public func qualifies(_ member: String) -> Bool { ranked.contains { $0.name == member } }

    /// One line naming each excluded member and why.
    public var exclusionSummary: String {
        excluded.isEmpty ? "no member answered" : excluded.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
    }

    /// What made `s` rank where it did, for logs.
    public func describe(_ s: MemberStatus) -> String {
        "timeline \(s.timeline.map { "\($0)" } ?? "?"), WAL \(s.lsn.map { "\($0)" } ?? "?"), priority \(s.tags.failoverPriority)"
    }

    static func exclusion(_ s: MemberStatus, _ cluster: ClusterView) -> String? {
        if !s.tags.mayBePromoted { return "tags forbid promotion" }
        if s.role != .replica { return "not a standby (\(s.role.rawValue))" }
        if s.state != .running { return "Postgres is \(s.state.rawValue)" }
        if let sysid = cluster.systemIdentifier, s.systemIdentifier != sysid { return "another cluster's data" }
        guard let lsn = s.lsn else { return "reports no WAL position" }
        if let last = cluster.lastPrimaryLSN {
            let lag = last.bytes(after: lsn)
            if lag > cluster.config.maximumLagOnFailover {
                return "\(lag) bytes behind the last primary position \(last) (maximum_lag_on_failover \(cluster.config.maximumLagOnFailover))"
            }
        }
        return nil
    }

    static func better(_ a: MemberStatus, _ b: MemberStatus) -> Bool {
        let ta = a.timeline ?? 0, tb = b.timeline ?? 0
        if ta != tb { return ta > tb }
        let la = a.lsn ?? .zero, lb = b.lsn ?? .zero
        if la != lb { return la > lb }
        if a.tags.failoverPriority != b.tags.failoverPriority { return a.tags.failoverPriority > b.tags.failoverPriority }
        return a.name < b.name
    }
}
