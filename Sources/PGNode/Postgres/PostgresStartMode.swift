/// How `PostgresController.start(_:)` starts Postgres.
public enum PostgresStartMode: Sendable, Hashable, CustomStringConvertible {
    /// Writable: no `standby.signal`, no `primary_conninfo`.
    case primary
    /// In recovery (`standby.signal`), streaming from `following`; nil: a standby that
    /// replays what it has and waits for an upstream (`follow(_:)` names one later).
    case standby(following: PostgresUpstream?)

    /// "primary", "standby of db2 (10.0.0.2:5432)" or "standby without upstream".
    public var description: String {
        switch self {
        case .primary: return "primary"
        case .standby(let upstream?): return "standby of \(upstream)"
        case .standby(nil): return "standby without upstream"
        }
    }
}
