/// One thing that goes wrong (or is done to the cluster) at an instant of a simulation.
public enum Fault: Hashable, Sendable, CustomStringConvertible {
    case crash(NodeSlot, midReady: Bool)
    case restart(NodeSlot)
    case pause(NodeSlot, length: Int)
    /// Cut every link between the two groups, both ways.
    case split([NodeSlot], [NodeSlot], length: Int)
    /// The node's outgoing messages get through, incoming ones do not.
    case deafen(NodeSlot, length: Int)
    /// The node's incoming messages get through, outgoing ones do not.
    case mute(NodeSlot, length: Int)
    /// Cut the single link between two nodes, both ways (a partial partition: each can still
    /// reach everyone else).
    case cutLink(NodeSlot, NodeSlot, length: Int)
    case heal
    /// The leader proposes a membership change.
    case membershipChange
    /// The leader hands leadership to another voter.
    case transfer(to: NodeSlot)
    /// The connection between two nodes resets: everything in flight on it is lost; with
    /// `reported`, the first node's transport tells its Raft node the peer is unreachable.
    case resetConnection(NodeSlot, NodeSlot, reported: Bool)
    /// The node's election timer fires now (refused if it heard from a leader recently).
    case nudgeElection(NodeSlot)
    /// The node loses its disk (or finds a damaged record and refuses to start).
    case loseDisk(NodeSlot)
    /// A message sent earlier is delivered again now.
    case replayOldMessage

    public var description: String {
        switch self {
        case .crash(let n, let mid): return "crash \(n)\(mid ? " mid-ready" : "")"
        case .restart(let n): return "restart \(n)"
        case .pause(let n, let l): return "pause \(n) for \(l)"
        case .split(let a, let b, let l): return "partition \(a) | \(b) for \(l)"
        case .deafen(let n, let l): return "\(n) cannot receive for \(l)"
        case .mute(let n, let l): return "\(n) cannot send for \(l)"
        case .cutLink(let a, let b, let l): return "cut link \(a)-\(b) for \(l)"
        case .heal: return "heal network"
        case .membershipChange: return "membership change"
        case .transfer(let n): return "transfer leadership to \(n)"
        case .resetConnection(let a, let b, let r): return "connection \(a)-\(b) resets\(r ? " (reported)" : "")"
        case .nudgeElection(let n): return "election timer of \(n) fires"
        case .loseDisk(let n): return "\(n) loses its disk"
        case .replayOldMessage: return "an old message is delivered again"
        }
    }
}

/// A node of the simulated cluster, numbered from 1 (its Raft id is the same number).
public typealias NodeSlot = Int
