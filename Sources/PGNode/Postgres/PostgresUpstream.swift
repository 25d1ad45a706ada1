/// A member whose Postgres another one replicates from (or rewinds or rebuilds from), with the
/// address its Postgres accepts TCP connections on.
public struct PostgresUpstream: Sendable, Hashable, CustomStringConvertible {
    /// The member's name (what `RunningPostgres.following` reports).
    public var member: String
    public var host: String
    public var port: Int
    /// Stream through this member's replication slot (the primary keeps one per member); false
    /// for cascading from a standby, which keeps no slots.
    public var usesSlot: Bool

    public init(member: String, host: String, port: Int, usesSlot: Bool = true) {
        self.member = member
        self.host = host
        self.port = port
        self.usesSlot = usesSlot
    }

    /// "db2 (10.0.0.2:5432)".
    public var description: String { "\(member) (\(host):\(port))" }
}
