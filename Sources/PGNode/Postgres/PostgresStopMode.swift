#if canImport(Glibc)
import Glibc
#endif

/// How `PostgresController.stop(_:timeout:)` asks the postmaster to stop.
public enum PostgresStopMode: Sendable {
    /// SIGINT: Postgres' "fast" shutdown. Sessions are disconnected, a shutdown checkpoint is
    /// written; the next start needs no crash recovery.
    case fast
    /// SIGQUIT: Postgres' "immediate" shutdown. Every process exits at once without a
    /// checkpoint; the next start runs crash recovery. This is the fence.
    case immediate

    /// The signal sent to the postmaster.
    var signal: Int32 {
        switch self {
        case .fast: return SIGINT
        case .immediate: return SIGQUIT
        }
    }
}
