/// The physical replication slot the primary keeps for each member.
public enum ReplicationSlot {
    /// The slot name for `member`: lowercased, every character outside `[a-z0-9_]` replaced by
    /// `_`, at most 63 characters (Postgres' limit); "_" for an empty name. Idempotent.
    public static func name(for member: String) -> String {
        let mapped = member.lowercased().unicodeScalars.map { c -> Character in
            ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "_" ? Character(c) : "_"
        }
        let name = String(mapped.prefix(63))
        return name.isEmpty ? "_" : name
    }
}
