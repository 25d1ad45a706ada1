/// One record of the replicated log.
///
/// An entry is identified by `(index, term)`: two logs that contain an entry with the same
/// index and term are identical up to that index (Log Matching, Raft paper §5.3).
public struct Entry: Hashable, Sendable, CustomStringConvertible {
    /// What an entry carries.
    public enum Payload: Hashable, Sendable {
        /// Application data, opaque to Raft. A leader appends an empty one when it is elected.
        case normal([UInt8])
        /// A change of membership and the whole membership it results in. It takes effect
        /// on each node as soon as it is in that node's log (Raft thesis §4.1), not when it
        /// commits. Carrying the result makes every such entry self-describing: a node that
        /// joins with an empty log learns the full membership from the entry alone.
        case configChange(ConfigChange, resulting: Membership)
    }

    public var term: Term
    public var index: LogIndex
    public var payload: Payload

    public init(term: Term, index: LogIndex, payload: Payload = .normal([])) {
        self.term = term
        self.index = index
        self.payload = payload
    }

    /// Convenience for a normal entry carrying `data`.
    public init(term: Term, index: LogIndex, data: [UInt8]) {
        self.init(term: term, index: index, payload: .normal(data))
    }

    /// The application bytes of a normal entry; empty for a config change.
    public var data: [UInt8] {
        if case .normal(let d) = payload { return d }
        return []
    }

    /// The size this entry counts for in flow control (payload bytes plus a fixed overhead).
    public var byteSize: Int {
        switch payload {
        case .normal(let d): return d.count + 16
        case .configChange(_, let m): return 32 + 8 * m.allMembers.count
        }
    }

    public var description: String {
        switch payload {
        case .normal(let d): return "\(index)@\(term)[\(d.count)B]"
        case .configChange(let c, let m): return "\(index)@\(term)[\(c) => \(m)]"
        }
    }
}
