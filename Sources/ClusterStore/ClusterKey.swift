import RaftCore

/// The keys of the cluster store, modeled on Patroni's DCS layout so its concepts carry over.
public enum ClusterKey: Hashable, Sendable, CustomStringConvertible {
    /// Dynamic configuration (edited with `pgha edit-config`).
    case config
    /// One member's last reported status: role, state, API URL, Postgres URL, timeline,
    /// received/replayed LSN, tags.
    case member(String)
    /// The cluster's Postgres system identifier, written once at bootstrap.
    case initialize
    /// Which member is the synchronous standby.
    case sync
    /// One row per promotion.
    case history
    /// A pending switchover or failover request.
    case failover
    /// The last known primary LSN.
    case status
    /// The highest Postgres timeline a promotion has reserved (`TimelineReservation`): every
    /// promotion takes a number above it, so no two primaries ever share a timeline.
    case timeline
    /// Written by the Raft leader once Raft node `id` has acknowledged the log: from then
    /// on that node holds promises (its vote, acknowledged entries), and an empty data
    /// directory under its id means it lost them.
    case raftMember(NodeID)

    /// The prefix of `raftMember` keys.
    public static let raftMembersPrefix = "raft-members/"

    /// The prefix under which all members live.
    public static let membersPrefix = "members/"

    /// The key as stored.
    public var path: String {
        switch self {
        case .config: return "config"
        case .member(let name): return Self.membersPrefix + name
        case .initialize: return "initialize"
        case .sync: return "sync"
        case .history: return "history"
        case .failover: return "failover"
        case .status: return "status"
        case .timeline: return "timeline"
        case .raftMember(let id): return Self.raftMembersPrefix + "\(id.rawValue)"
        }
    }

    /// Parses a stored key back; nil for keys outside the layout.
    public init?(path: String) {
        switch path {
        case "config": self = .config
        case "initialize": self = .initialize
        case "sync": self = .sync
        case "history": self = .history
        case "failover": self = .failover
        case "status": self = .status
        case "timeline": self = .timeline
        default:
            if path.hasPrefix(Self.raftMembersPrefix), let raw = UInt64(path.dropFirst(Self.raftMembersPrefix.count)), raw > 0 {
                self = .raftMember(NodeID(raw))
                return
            }
            guard path.hasPrefix(Self.membersPrefix), path.count > Self.membersPrefix.count else { return nil }
            self = .member(String(path.dropFirst(Self.membersPrefix.count)))
        }
    }

    public var description: String { path }
}
