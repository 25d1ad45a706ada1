/// Why a write (`StoreClient.put`/`delete`) returned no revision, and whether it may have been
/// applied.
///
/// The split is the guarantee: `notApplied` means the cluster did not and will not apply this
/// write (retrying it is safe); `outcomeUnknown` means the request left the client and
/// nothing proves what became of it: it may have been applied, now or later.
public enum StoreWriteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The write was not applied: refused before it was proposed (not leader, invalid
    /// request, node overloaded or stopped, no node reachable before sending it), or
    /// evaluated and refused by its condition (`revisionMismatch`, `notFound`).
    case notApplied(StoreError)
    /// The request was sent and no answer settles it: it timed out, the connection closed,
    /// or the node stopped after accepting it. The write may or may not have been applied;
    /// read the key back to find out before retrying a write that must not happen twice.
    case outcomeUnknown(reason: String)

    /// Whether the write may have been applied.
    public var mayHaveBeenApplied: Bool {
        if case .outcomeUnknown = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .notApplied(let e):
            return "\(e) (the write was not applied)"
        case .outcomeUnknown(let reason):
            return "\(reason): the write may or may not have been applied; read the key back to find out"
        }
    }
}
