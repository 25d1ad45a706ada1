import Foundation
import HACore
import RaftCore

/// Reads and writes the HA keys of the cluster store (`ClusterKey`) as the decision's types:
/// `initialize` as decimal text, everything else as JSON with Patroni's field names.
public enum ClusterState {
    /// A member report older than this (wall clock) is stale: its agent is down or cut off.
    public static let defaultStaleAfterMs: UInt64 = 5_000

    /// The cluster as `items` (every key of the store, from `list(prefix: "")`) shows it at
    /// `nowUnixMs`. Keys that do not decode are skipped and named in `problems`; member reports
    /// older than `staleAfterMs` go to `staleMembers`.
    public static func view(from items: [(key: String, value: VersionedValue)],
                            nowUnixMs: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000),
                            staleAfterMs: UInt64 = defaultStaleAfterMs) -> (view: ClusterView, problems: [String]) {
        var view = ClusterView()
        var problems: [String] = []
        let decoder = JSONDecoder()
        for (key, v) in items {
            guard let k = ClusterKey(path: key) else { continue }
            let data = Data(v.value)
            switch k {
            case .initialize:
                if let id = UInt64(String(decoding: v.value, as: UTF8.self)) { view.systemIdentifier = id } else {
                    problems.append("\(key): not a system identifier")
                }
            case .member(let name):
                if let m = try? decoder.decode(MemberStatus.self, from: data) {
                    if nowUnixMs > m.reportedAtUnixMs &+ staleAfterMs { view.staleMembers[name] = m } else { view.members[name] = m }
                } else {
                    problems.append("\(key): not a member status")
                }
            case .history:
                if let h = try? decoder.decode([HistoryRow].self, from: data) { view.history = h } else {
                    problems.append("\(key): not a history")
                }
            case .status:
                if let s = try? decoder.decode(PrimaryPosition.self, from: data) {
                    view.lastPrimaryLSN = s.lsn
                    view.lastPrimary = s.member
                } else {
                    problems.append("\(key): not a primary position")
                }
            case .config:
                if let c = try? decoder.decode(DynamicConfig.self, from: data) { view.config = c } else {
                    problems.append("\(key): not a dynamic configuration")
                }
            case .failover:
                if let f = try? decoder.decode(FailoverRequest.self, from: data) { view.failover = f } else {
                    problems.append("\(key): not a failover request")
                }
            case .sync:
                if let sync = try? decoder.decode(SyncState.self, from: data) { view.sync = sync } else {
                    problems.append("\(key): not a sync state")
                }
            case .raftMember:
                break
            }
        }
        return (view, problems)
    }

    /// JSON bytes of `value`.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return Array((try? e.encode(value)) ?? Data())
    }
}

/// The `status` key: the primary's WAL position when it last reported (Patroni's `optime`).
public struct PrimaryPosition: Codable, Hashable, Sendable {
    public var lsn: LSN
    public var timeline: UInt32
    public var member: String
    public init(lsn: LSN, timeline: UInt32, member: String) {
        self.lsn = lsn
        self.timeline = timeline
        self.member = member
    }
}
