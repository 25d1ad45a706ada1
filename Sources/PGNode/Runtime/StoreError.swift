import RaftCore

/// Why a cluster store request failed. Each case says what the caller can do.
public enum StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// This node is not the leader; retry on `leader` (if known).
    case notLeader(leader: NodeID?)
    /// No answer in time: the write may or may not have happened. Read back to find out.
    case timeout
    /// The key's modification revision is `current` (0: absent), not the expected one.
    case revisionMismatch(current: UInt64)
    /// Delete of a key that does not exist.
    case notFound
    /// The key or value is too large, or the key is empty.
    case invalidRequest(String)
    /// The node is overloaded or transferring leadership; back off and retry.
    case unavailable(String)
    /// The node has stopped (shutdown or a storage failure).
    case stopped

    public var description: String {
        switch self {
        case .notLeader(let l): return "not leader (leader: \(l.map { "\($0)" } ?? "unknown"))"
        case .timeout: return "timed out; the outcome is unknown"
        case .revisionMismatch(let c): return "revision mismatch (current \(c))"
        case .notFound: return "key not found"
        case .invalidRequest(let why): return "invalid request: \(why)"
        case .unavailable(let why): return "unavailable: \(why)"
        case .stopped: return "node stopped"
        }
    }
}
