/// Why the node refused a proposal, read request, membership change or transfer.
public enum ProposalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// This node is not the leader; `leader` is the one it knows of, if any.
    case notLeader(leader: NodeID?)
    /// A leadership transfer is under way; retry on the new leader.
    case transferInProgress
    /// A membership change is still uncommitted, or the leader has not yet committed an entry
    /// of its own term (thesis §4.1 and the single-server-change fix).
    case configChangePending
    /// The change is not valid for the current membership (the reason says why).
    case invalidConfigChange(String)
    /// Too many uncommitted entries or pending reads; the caller should back off.
    case overloaded
    /// The node may not campaign (it is not a voter, may-not-campaign is set, or it heard
    /// from a live leader within the election timeout).
    case cannotCampaign(String)
    /// The transfer target is not a voter of the cluster.
    case unknownNode(NodeID)

    public var description: String {
        switch self {
        case .notLeader(let l): return "not leader (leader: \(l.map { "\($0)" } ?? "unknown"))"
        case .transferInProgress: return "leadership transfer in progress"
        case .configChangePending: return "a membership change is pending or the leader has not committed in its term"
        case .invalidConfigChange(let why): return "invalid membership change: \(why)"
        case .overloaded: return "overloaded: too many uncommitted entries or pending reads"
        case .cannotCampaign(let why): return "cannot campaign: \(why)"
        case .unknownNode(let n): return "\(n) is not a voter"
        }
    }
}
