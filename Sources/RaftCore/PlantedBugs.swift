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
    /// Send vote responses before the vote is persisted (double vote after a crash).
    package static let voteReplyBeforePersist = PlantedBugs(rawValue: 1 << 3)
    /// Serve ReadIndex at once without confirming leadership with a quorum.
    package static let readWithoutQuorumCheck = PlantedBugs(rawValue: 1 << 4)
    /// Grant votes regardless of leader stickiness (breaks the lease).
    package static let voteIgnoringLease = PlantedBugs(rawValue: 1 << 5)

    package static let all: [(String, PlantedBugs)] = [
        ("vote-without-log-check", .voteWithoutLogCheck),
        ("commit-old-term", .commitOldTermByCounting),
        ("append-without-truncate", .appendWithoutTruncate),
        ("vote-reply-before-persist", .voteReplyBeforePersist),
        ("read-without-quorum", .readWithoutQuorumCheck),
        ("vote-ignoring-lease", .voteIgnoringLease),
    ]
}
