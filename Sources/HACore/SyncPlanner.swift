/// The primary's management of synchronous replication (DESIGN.md invariant 2): from the
/// configuration, its own Postgres (what `synchronous_standby_names` is in effect, its WAL
/// position, `pg_stat_replication`), the members' reports and the store's `sync` key, the one
/// next step that moves the cluster toward the wanted synchronous standbys — and never lets
/// the `sync` key claim more than Postgres guarantees.
///
/// The steps, in order (one per decision; the next decision sees its effect):
/// 1. `sync` names another leader (or is missing): claim nothing yet — `(me, [], 0)`. The new
///    primary started with `SynchronousStandbyNames.none`, so it acknowledged nothing so far.
/// 2. Postgres does not yet require the target `(M', Q')`: first weaken the key to a claim that
///    both the commits acknowledged so far and those acknowledged under the target satisfy —
///    `(M ∪ M', min(Q, Q'))` (at least Q of M implies at least min(Q, Q') of M ∪ M'); then set
///    `synchronous_standby_names` to the target.
/// 3. Once the target is in effect, note the WAL position (`barrier`, taken one decision after
///    the value was first seen, so every Postgres process has reloaded it: every commit
///    acknowledged under the old value lies below it); when at least Q' members of M' flushed
///    past the barrier, every commit ever acknowledged is on Q' of M': write `(M', Q')`.
///
/// `off`: delete the key first, then clear `synchronous_standby_names`.
public struct SyncPlanner: Hashable, Sendable {
    /// The `synchronous_standby_names` value seen in effect and the WAL position at that moment.
    var barrier: Barrier?
    /// A bug planted on purpose, for the tests that prove the property test finds it.
    var plantedBug: PlantedBug?

    /// The orderings the planner must not use.
    enum PlantedBug: Hashable, Sendable {
        /// Claim the new standbys as soon as Postgres requires them, without the barrier.
        case claimWithoutBarrier
        /// Write the target's quorum before Postgres requires it (no weakened middle claim).
        case claimBeforeNames
        /// Change `synchronous_standby_names` first, without the weakened middle claim.
        case namesBeforeClaim
    }

    struct Barrier: Hashable, Sendable {
        var names: String
        /// nil until the decision after the one that first saw `names` in effect.
        var lsn: LSN?
    }

    public init() {}

    /// What the primary wants: `members` (sorted), `quorum`, and the value that requires it.
    public struct Target: Hashable, Sendable {
        public var members: [String]
        public var quorum: Int
        public var names: String
    }

    /// One step.
    public enum Step: Hashable, Sendable {
        case setNames(String, reason: String)
        case writeState(SyncState?, reason: String)
    }

    /// The target for this primary: the healthy streaming standbys that may be synchronous,
    /// best first — higher `sync_priority`, then those that may be promoted (a claim naming only
    /// `nofailover` members allows no failover), then the current synchronous ones (no churn), then
    /// the least lag, then name. A standby lagging more than `maximum_lag_on_syncnode` is used
    /// only when no other one is healthy. `on`: the first `synchronous_node_count`; `quorum`:
    /// all of them, `ANY min(k, count)`. None: "" (commits are not held), or, in strict mode,
    /// `SynchronousStandbyNames.none` (commits wait).
    public static func target(config: DynamicConfig, me: String, wal: LSN, replication: [ReplicationRow],
                              members: [String: MemberStatus], current: SyncState?) -> Target {
        let currentSet = Set(current?.leader == me ? current?.members ?? [] : [])
        struct Candidate { var name: String; var priority: Int; var promotable: Bool; var current: Bool; var lag: UInt64 }
        var healthy: [Candidate] = [], lagging: [Candidate] = []
        for row in replication where row.state == "streaming" {
            guard let m = members[row.applicationName], m.name != me, m.role == .replica, m.state == .running,
                  !m.tags.noSync, m.tags.syncPriority > 0 else { continue }
            let lag = row.flushLSN.map { wal.bytes(after: $0) } ?? UInt64.max
            let c = Candidate(name: m.name, priority: m.tags.syncPriority, promotable: m.tags.mayBePromoted,
                              current: currentSet.contains(m.name), lag: lag)
            if config.maximumLagOnSyncnode >= 0 && lag > UInt64(config.maximumLagOnSyncnode) { lagging.append(c) } else { healthy.append(c) }
        }
        let order: (Candidate, Candidate) -> Bool = { a, b in
            if a.priority != b.priority { return a.priority > b.priority }
            // A claim that names only members that may not be promoted allows no failover.
            if a.promotable != b.promotable { return a.promotable }
            if a.current != b.current { return a.current }
            if a.lag != b.lag { return a.lag < b.lag }
            return a.name < b.name
        }
        let ranked = healthy.sorted(by: order) + lagging.sorted(by: order)
        let k = max(1, config.synchronousNodeCount)
        var chosen: [String]
        switch config.synchronousMode {
        case .off: chosen = []
        case .on: chosen = ranked.prefix(k).map(\.name)
        case .quorum:
            // Every healthy standby votes; lagging ones only to make up the count.
            chosen = healthy.count >= k ? healthy.map(\.name) : ranked.prefix(k).map(\.name)
        }
        chosen.sort()
        let quorum = config.synchronousMode == .quorum ? min(k, chosen.count) : chosen.count
        var names = SynchronousStandbyNames.render(config.synchronousMode, members: chosen, quorum: quorum)
        if names.isEmpty && config.synchronousMode != .off && config.synchronousModeStrict { names = SynchronousStandbyNames.none }
        return Target(members: chosen, quorum: quorum, names: names)
    }

    /// The next step for the running primary `me` (nil: nothing to change).
    public mutating func next(config: DynamicConfig, me: String, inEffect: String, wal: LSN,
                              replication: [ReplicationRow], members: [String: MemberStatus],
                              current: SyncState?) -> Step? {
        guard config.synchronousMode != .off else {
            barrier = nil
            if current != nil { return .writeState(nil, reason: "synchronous_mode is off") }
            if !inEffect.isEmpty { return .setNames("", reason: "synchronous_mode is off") }
            return nil
        }
        guard let claim = current, claim.leader == me else {
            return .writeState(SyncState(leader: me, members: [], quorum: 0),
                               reason: "a new primary claims nothing until its synchronous standbys are established")
        }
        let target = Self.target(config: config, me: me, wal: wal, replication: replication, members: members, current: current)
        if inEffect != target.names {
            barrier = nil
            var mid = SyncState(leader: me, members: Array(Set(claim.members).union(target.members)),
                                quorum: min(claim.quorum, target.quorum))
            if plantedBug == .claimBeforeNames { mid = SyncState(leader: me, members: target.members, quorum: target.quorum) }
            if mid != claim && plantedBug != .namesBeforeClaim { return .writeState(mid, reason: "before synchronous_standby_names changes to '\(target.names)'") }
            return .setNames(target.names, reason: target.members.isEmpty
                ? (target.names.isEmpty ? "no synchronous standby is available; commits are acknowledged asynchronously"
                                        : "no synchronous standby is available; synchronous_mode_strict holds commits until one is")
                : "synchronous standbys: \(target.members.joined(separator: ", ")) (\(config.synchronousMode.rawValue), \(target.quorum) needed)")
        }
        // The barrier is the WAL position one decision after the value was first seen in effect:
        // by then every Postgres process (the WAL senders release waiting commits by their own
        // copy of the setting) has reloaded it.
        let want = SyncState(leader: me, members: target.members, quorum: target.quorum)
        if barrier?.names != inEffect {
            barrier = Barrier(names: inEffect, lsn: nil)
            return nil
        }
        if barrier?.lsn == nil { barrier?.lsn = wal }
        guard want != claim, let b = barrier?.lsn else { return nil }
        let flushed = replication.filter { row in
            target.members.contains(row.applicationName) && (row.flushLSN.map { $0 >= b } ?? false)
        }.map(\.applicationName)
        guard Set(flushed).count >= target.quorum || plantedBug == .claimWithoutBarrier else { return nil }
        return .writeState(want, reason: "every acknowledged commit is on \(target.quorum) of \(target.members.joined(separator: ", "))")
    }
}
