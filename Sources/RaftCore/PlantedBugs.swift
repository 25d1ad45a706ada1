/// Deliberate defects the simulator can switch on to prove that it detects them. Only code
/// in this package can set them (`package` access); production configuration cannot.
package struct PlantedBugs: OptionSet, Hashable, Sendable {
    package let rawValue: UInt32
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Grant votes without the log up-to-date check (§5.4.1).
    package static let voteWithoutLogCheck = PlantedBugs(rawValue: 1 << 0)
    /// Commit entries of older terms by counting replicas (the Figure 8 bug).
    package static let commitOldTermByCounting = PlantedBugs(rawValue: 1 << 1)
    /// Append after a conflict without truncating the follower's conflicting suffix.
    package static let appendWithoutTruncate = PlantedBugs(rawValue: 1 << 2)
    /// Send every reply before persisting what it promises: votes (a double vote after a
    /// crash) and append acknowledgements (a crash loses entries counted for commit).
    package static let replyBeforePersist = PlantedBugs(rawValue: 1 << 3)
    /// Serve ReadIndex at once from the local commit index, without confirming leadership:
    /// no quorum round and no wait for the first commit of the leader's term.
    package static let readWithoutQuorumCheck = PlantedBugs(rawValue: 1 << 4)
    /// Grant votes regardless of leader stickiness (breaks the lease).
    package static let voteIgnoringLease = PlantedBugs(rawValue: 1 << 5)

    /// Leader stickiness judged the pre-fix way: only vote requests of a higher term are
    /// refused, and only while `leader` is set, which any higher-term message (a late
    /// rejected pre-vote response, say) clears. Breaks the lease.
    package static let stickinessLostOnHigherTerm = PlantedBugs(rawValue: 1 << 6)
    /// The leader never frees in-flight slots on a heartbeat answer: a window whose appends
    /// were all lost stays full and the follower is never sent anything again.
    package static let inflightWindowNeverDrains = PlantedBugs(rawValue: 1 << 7)
    /// The leader ignores rejections at or below a follower's match index, so a follower
    /// whose log went backwards (lost disk, restored backup) is never repaired.
    package static let regressedFollowerIgnored = PlantedBugs(rawValue: 1 << 8)

    /// A runtime defect the simulator models (the core has no clock): after a stall, the
    /// node is stepped and asked for its lease before the ticks it missed are delivered,
    /// so it reports a lease that has run out in real time.
    package static let staleTimeAfterStall = PlantedBugs(rawValue: 1 << 9)

    package static let all: [(String, PlantedBugs)] = [
        ("vote-without-log-check", .voteWithoutLogCheck),
        ("commit-old-term", .commitOldTermByCounting),
        ("append-without-truncate", .appendWithoutTruncate),
        ("reply-before-persist", .replyBeforePersist),
        ("read-without-quorum", .readWithoutQuorumCheck),
        ("vote-ignoring-lease", .voteIgnoringLease),
        ("stickiness-lost-on-higher-term", .stickinessLostOnHigherTerm),
        ("inflight-window-never-drains", .inflightWindowNeverDrains),
        ("regressed-follower-ignored", .regressedFollowerIgnored),
        ("stale-time-after-stall", .staleTimeAfterStall),
    ]
}
