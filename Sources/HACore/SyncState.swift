/// The store's `sync` key: what the primary `leader` guarantees about its acknowledged commits.
///
/// **The claim:** every commit `leader` acknowledged is flushed on at least `quorum` of
/// `members` (standbys, never the leader itself). `quorum` 0 claims nothing. The primary changes
/// the key and `synchronous_standby_names` in an order that keeps the claim true at every
/// instant (DESIGN.md invariant 2, `SyncPlanner`): it only ever writes a claim that commits
/// already acknowledged satisfy, and narrows what Postgres requires only after the key stopped
/// relying on it.
///
/// **The promotion rule it implies** (`Placement`): with `N = members.count` and `Q = quorum`,
/// every acknowledged commit is on at least Q of the N members, so among any `N − Q + 1` of
/// them at least one holds it (only `Q − 1` can be missing from any Q-set we did not hear
/// from). A candidate is therefore safe when it is a member, at least `N − Q + 1` members
/// reported their WAL position, and its position is the highest of theirs. This is the
/// read/write quorum overlap R + W > N, with W = Q and R = N − Q + 1. In `on` mode Q = N, so
/// any one member suffices.
public struct SyncState: Hashable, Sendable, Codable {
    /// The primary the claim is about.
    public var leader: String
    /// The standbys the claim counts (sorted).
    public var members: [String]
    /// How many of `members` hold every acknowledged commit (0: no claim).
    public var quorum: Int

    public init(leader: String, members: [String], quorum: Int) {
        self.leader = leader
        self.members = members.sorted()
        self.quorum = max(0, min(quorum, members.count))
    }

    /// How many members must report their position before one may be promoted (N − Q + 1), or
    /// nil when the claim is empty (nobody may be promoted automatically).
    public var readQuorum: Int? {
        guard quorum > 0 else { return nil }
        return members.count - quorum + 1
    }

    enum CodingKeys: String, CodingKey { case leader, members = "sync_standby", quorum }
}

/// Renders `synchronous_standby_names` values.
public enum SynchronousStandbyNames {
    /// A value no standby matches (member names cannot contain ':'): commits wait for a standby
    /// pgha has not named yet. A primary starts with it in synchronous modes, so it acknowledges
    /// nothing before it has established which standbys hold its commits.
    public static let none = "FIRST 1 (\"pgha:none\")"

    /// `FIRST n (…)` (`on`: n is the number of names) or `ANY k (…)` (`quorum`); "" for no names.
    public static func render(_ mode: SynchronousMode, members: [String], quorum: Int) -> String {
        guard !members.isEmpty, quorum > 0 else { return "" }
        let list = members.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
        switch mode {
        case .off: return ""
        case .on: return "FIRST \(quorum) (\(list))"
        case .quorum: return "ANY \(quorum) (\(list))"
        }
    }
}
