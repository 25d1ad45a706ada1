/// Failover placement (DESIGN.md, failover step 3): among the members' statuses, the best new
/// primary. A candidate is a running standby of this cluster whose tags allow promotion, whose
/// WAL reaches within `maximum_lag_on_failover` of the last primary position recorded in the
/// store, that is on the newest timeline when `check_timeline` is set, and — in synchronous
/// modes — that the store's `sync` key proves holds every acknowledged commit (see
/// `SyncState`). Candidates rank by timeline (newest first), then WAL position (most advanced
/// first), then `failover_priority` (highest first), then name (so every node ranks alike).
public struct Placement: Sendable {
    /// Candidates, best first.
    public let ranked: [MemberStatus]
    /// Members that are not candidates, and why.
    public let excluded: [String: String]

    /// Which rules apply.
    public struct Rules: Hashable, Sendable {
        /// Apply the `sync` key's rule (off for a switchover from a running primary: the
        /// candidate must have received the shutdown checkpoint, so it holds everything).
        public var synchronous: Bool = true
        /// Apply `maximum_lag_on_failover` (an operator's forced failover turns it off, and the
        /// synchronous rule with it).
        public var lag: Bool = true
        /// Members that may not be promoted now (their `pre_promote` refused, say), and why.
        public var refused: [String: String] = [:]
        /// Planted defects (the simulator's; empty in production).
        package var plantedBugs: HAPlantedBugs = []

        public init(synchronous: Bool = true, lag: Bool = true, refused: [String: String] = [:]) {
            self.synchronous = synchronous
            self.lag = lag
            self.refused = refused
        }

        /// The automatic rules.
        public static let automatic = Rules()
        /// A switchover from a running primary.
        public static let switchover = Rules(synchronous: false)
        /// An operator's forced failover: tags and health still hold, lag and `sync` do not.
        public static let forced = Rules(synchronous: false, lag: false)

        /// The rules for an operator's request: a forced failover skips lag and `sync`; a change
        /// from a running primary needs no `sync` rule (the candidate receives its shutdown
        /// checkpoint); anything else follows the automatic rules.
        public static func forRequest(kind: FailoverRequest.Kind, force: Bool, primaryRuns: Bool) -> Rules {
            force && kind == .failover ? .forced : primaryRuns ? .switchover : .automatic
        }
    }

    public init(statuses: [MemberStatus], cluster: ClusterView, rules: Rules = .automatic) {
        var ranked: [MemberStatus] = []
        var excluded: [String: String] = [:]
        for s in statuses {
            if let why = Self.exclusion(s, cluster, rules) { excluded[s.name] = why } else { ranked.append(s) }
        }
        if rules.synchronous, cluster.config.synchronousMode != .off, !rules.plantedBugs.contains(.promoteNotInSync) {
            Self.applySync(&ranked, &excluded, statuses: statuses, cluster: cluster)
        }
        ranked.sort(by: Self.better)
        if rules.plantedBugs.contains(.lowestLSNCandidate) {
            ranked.sort { ($0.lsn ?? .zero) < ($1.lsn ?? .zero) }
        }
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

    /// How many bytes `s` is behind the last primary position the store recorded (0: not behind
    /// or unknown) — what promoting it may lose in asynchronous mode.
    public static func bytesBehind(_ s: MemberStatus, _ cluster: ClusterView) -> UInt64 {
        guard let last = cluster.lastPrimaryLSN, let lsn = s.lsn else { return 0 }
        return last.bytes(after: lsn)
    }

    static func exclusion(_ s: MemberStatus, _ cluster: ClusterView, _ rules: Rules) -> String? {
        if !s.tags.mayBePromoted { return "tags forbid promotion" }
        if let why = rules.refused[s.name] { return why }
        if let why = s.promotionRefused { return "its pre_promote hook refused the promotion (\(why))" }
        if s.role != .replica { return "not a standby (\(s.role.rawValue))" }
        if s.state != .running { return "Postgres is \(s.state.rawValue)" }
        if let sysid = cluster.systemIdentifier, s.systemIdentifier != sysid { return "another cluster's data" }
        guard let lsn = s.lsn else { return "reports no WAL position" }
        if cluster.config.checkTimeline, let latest = cluster.latestTimeline, let tl = s.timeline, tl < latest {
            return "on timeline \(tl), older than timeline \(latest) (check_timeline)"
        }
        if rules.lag, let last = cluster.lastPrimaryLSN {
            let lag = last.bytes(after: lsn)
            if lag > cluster.config.maximumLagOnFailover {
                return "\(lag) bytes behind the last primary position \(last) (maximum_lag_on_failover \(cluster.config.maximumLagOnFailover))"
            }
        }
        return nil
    }

    /// The synchronous rule (`SyncState`): only members of the claim; at least N − Q + 1 of them
    /// reported a position; only those at the highest of those positions. The claim's own
    /// leader — a former primary now running as a standby — always qualifies: it wrote every
    /// commit it acknowledged, so it holds them all (Patroni's `SyncState.matches` counts the
    /// leader too). Without this, a primary that lost its standbys (an empty claim) and then its
    /// lease could never be promoted again, although nobody else holds its commits.
    static func applySync(_ ranked: inout [MemberStatus], _ excluded: inout [String: String], statuses: [MemberStatus],
                          cluster: ClusterView) {
        let mode = cluster.config.synchronousMode.rawValue
        guard let sync = cluster.sync else {
            for s in ranked { excluded[s.name] = "synchronous_mode is \(mode) but no synchronous standby is recorded" }
            ranked = []
            return
        }
        let claimLeader = ranked.filter { $0.name == sync.leader }
        ranked.removeAll { $0.name == sync.leader }
        defer { ranked += claimLeader }
        guard let needed = sync.readQuorum else {
            for s in ranked {
                excluded[s.name] = "synchronous_mode is \(mode) and \(sync.leader) had no synchronous standby: nobody else is sure to hold its acknowledged commits"
            }
            ranked = []
            return
        }
        let members = Set(sync.members).subtracting([sync.leader])
        let reported = statuses.filter { members.contains($0.name) && $0.lsn != nil && $0.systemIdentifier == cluster.systemIdentifier }
        if reported.count < needed {
            for s in ranked {
                excluded[s.name] = "only \(reported.count) of the synchronous standbys (\(sync.members.joined(separator: ", "))) answered; \(needed) needed for quorum \(sync.quorum)"
            }
            ranked = []
            return
        }
        let highest = reported.compactMap(\.lsn).max() ?? .zero
        ranked = ranked.filter { s in
            if !members.contains(s.name) {
                excluded[s.name] = "not a synchronous standby of \(sync.leader) (synchronous_mode \(mode))"
                return false
            }
            if let lsn = s.lsn, lsn < highest {
                excluded[s.name] = "behind another synchronous standby (\(lsn) < \(highest))"
                return false
            }
            return true
        }
    }

    /// Whether candidate `name` ranks level with the best candidate on everything but the
    /// name (timeline, WAL position, `failover_priority`): promoting it loses nothing the best
    /// one holds, so a leader that is such a candidate promotes itself rather than hand its
    /// leadership to the name-wise first (a transfer and a second lease wait cost seconds).
    public func isLevelWithBest(_ name: String) -> Bool {
        guard let best = ranked.first, let s = ranked.first(where: { $0.name == name }) else { return false }
        return (s.timeline ?? 0) == (best.timeline ?? 0) && (s.lsn ?? .zero) == (best.lsn ?? .zero)
            && s.tags.failoverPriority == best.tags.failoverPriority
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
