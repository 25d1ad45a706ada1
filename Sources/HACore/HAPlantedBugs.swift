/// Deliberate defects in the HA logic, for the simulator to prove it finds them (as
/// `RaftConfig.plantedBugs` does for the consensus core). Reachable only from this package:
/// no configuration sets them, and production code never does.
package struct HAPlantedBugs: OptionSet, Hashable, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A leader promotes its standby without a valid lease (the decision skips the lease check,
    /// and the executor promotes without arming the fence).
    package static let promoteWithoutLease = HAPlantedBugs(rawValue: 1 << 0)
    /// The lease is not watched on a timer of its own: no lease-fence timer and no fence guard;
    /// a primary is fenced only when the next HA loop notices (the executor's part).
    package static let fenceOnNextLoop = HAPlantedBugs(rawValue: 1 << 1)
    /// Failover picks the candidate with the lowest WAL position instead of the highest.
    package static let lowestLSNCandidate = HAPlantedBugs(rawValue: 1 << 2)
    /// The primary narrows `synchronous_standby_names` before it weakens the `sync` key.
    package static let narrowNamesBeforeSync = HAPlantedBugs(rawValue: 1 << 3)
    /// Failover may promote a member the `sync` key does not name.
    package static let promoteNotInSync = HAPlantedBugs(rawValue: 1 << 4)
    /// Failover uses the members' periodic reports instead of a fresh status round.
    package static let skipStatusRound = HAPlantedBugs(rawValue: 1 << 5)
    /// A new leader decides on its local copy of the store before an entry of its term is
    /// committed (a non-linearizable read): it may miss the last `sync` key (the executor's part).
    package static let staleStoreView = HAPlantedBugs(rawValue: 1 << 6)

    /// Every planted bug by the name the command line uses.
    package static let all: [(String, HAPlantedBugs)] = [
        ("promote-without-lease", .promoteWithoutLease),
        ("fence-on-next-loop", .fenceOnNextLoop),
        ("lowest-lsn-candidate", .lowestLSNCandidate),
        ("narrow-names-before-sync", .narrowNamesBeforeSync),
        ("promote-not-in-sync", .promoteNotInSync),
        ("skip-status-round", .skipStatusRound),
        ("stale-store-view", .staleStoreView),
    ]
}
