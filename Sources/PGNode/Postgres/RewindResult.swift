/// What `PostgresController.rewind(from:)` did.
public enum RewindResult: Sendable, Hashable {
    /// pg_rewind copied what diverged: the directory now lies on the source's timeline
    /// history and can follow it after WAL replay.
    case rewound
    /// pg_rewind found nothing to rewind ("no rewind required", or "source and target cluster
    /// are on the same timeline"); the directory can follow the source as it is.
    case notNeeded
}
