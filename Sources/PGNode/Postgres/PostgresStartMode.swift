/// How `PostgresController.start(_:)` starts Postgres.
public enum PostgresStartMode: Sendable, Hashable {
    /// Writable: no `standby.signal`, no `primary_conninfo`.
    case primary
    /// In recovery (`standby.signal`), streaming from `following`; nil: a standby that
    /// replays what it has and waits for an upstream (`follow(_:)` names one later).
    case standby(following: PostgresUpstream?)
}
