/// `synchronous_mode` (Patroni's setting): how the primary's commits are acknowledged.
/// - `off`: asynchronous replication; a failover may lose up to `maximum_lag_on_failover`
///   bytes of acknowledged commits.
/// - `on`: `synchronous_standby_names = 'FIRST n (…)'` names exactly the `n` chosen standbys,
///   so a commit returns only once every one of them flushed it; only a member recorded in the
///   store's `sync` key may be promoted.
/// - `quorum`: `'ANY k (…)'` over every healthy standby; a commit returns once any `k` of them
///   flushed it; a candidate is promoted only when enough of them answered that it is sure to
///   hold every acknowledged commit (see `Placement`).
public enum SynchronousMode: String, Hashable, Sendable, Codable {
    case off, on, quorum

    /// Accepts Patroni's spellings: a JSON boolean (`true` is `on`) or one of the names.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = b ? .on : .off
            return
        }
        let text = try c.decode(String.self).lowercased()
        switch text {
        case "off", "false", "no": self = .off
        case "on", "true", "yes": self = .on
        case "quorum": self = .quorum
        default:
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "synchronous_mode must be off, on or quorum, got '\(text)'")
        }
    }
}
