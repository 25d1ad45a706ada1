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
        var reader = Reader()
        return reader.view(from: items, nowUnixMs: nowUnixMs, staleAfterMs: staleAfterMs)
    }

    /// Decodes the HA keys into a `ClusterView`, keeping what it decoded by key and modification
    /// revision, so a caller that reads the store often (the simulator, every HA cycle of every
    /// host) decodes each value once. The view is the same as `ClusterState.view(from:)`'s.
    public struct Reader: Sendable {
        private var decoded: [String: (revision: UInt64, value: Decoded?)] = [:]

        enum Decoded: Sendable {
            case initialize(UInt64), member(MemberStatus), history([HistoryRow]), status(PrimaryPosition)
            case config(DynamicConfig), failover(FailoverRequest), sync(SyncState)
        }

        public init() {}

        /// `ClusterState.view(from:nowUnixMs:staleAfterMs:)`, reusing earlier decodings.
        public mutating func view(from items: [(key: String, value: VersionedValue)], nowUnixMs: UInt64,
                                  staleAfterMs: UInt64 = defaultStaleAfterMs) -> (view: ClusterView, problems: [String]) {
            var view = ClusterView()
            var problems: [String] = []
            var seen: Set<String> = []
            for (key, v) in items {
                guard let k = ClusterKey(path: key) else { continue }
                seen.insert(key)
                let value: Decoded?
                if let cached = decoded[key], cached.revision == v.modRevision { value = cached.value } else {
                    value = Self.decode(k, v.value)
                    decoded[key] = (v.modRevision, value)
                }
                switch (k, value) {
                case (.raftMember, _), (.timeline, _): break
                case (_, nil): problems.append("\(key): \(Self.expected(k))")
                case (_, .initialize(let id)): view.systemIdentifier = id
                case (.member(let name), .member(let m)):
                    if nowUnixMs > m.reportedAtUnixMs &+ staleAfterMs { view.staleMembers[name] = m } else { view.members[name] = m }
                case (_, .member): break
                case (_, .history(let h)): view.history = HistoryRow.inTimelineOrder(h)
                case (_, .status(let s)):
                    view.lastPrimaryLSN = s.lsn
                    view.lastPrimary = s.member
                case (_, .config(let c)): view.config = c
                case (_, .failover(let f)): view.failover = f
                case (_, .sync(let sync)): view.sync = sync
                }
            }
            if decoded.count > seen.count { decoded = decoded.filter { seen.contains($0.key) } }
            return (view, problems)
        }

        private static func decode(_ k: ClusterKey, _ bytes: [UInt8]) -> Decoded? {
            let decoder = JSONDecoder()
            let data = Data(bytes)
            switch k {
            case .initialize: return UInt64(String(decoding: bytes, as: UTF8.self)).map(Decoded.initialize)
            case .member: return (try? decoder.decode(MemberStatus.self, from: data)).map(Decoded.member)
            case .history: return (try? decoder.decode([HistoryRow].self, from: data)).map(Decoded.history)
            case .status: return (try? decoder.decode(PrimaryPosition.self, from: data)).map(Decoded.status)
            case .config: return (try? decoder.decode(DynamicConfig.self, from: data)).map(Decoded.config)
            case .failover: return (try? decoder.decode(FailoverRequest.self, from: data)).map(Decoded.failover)
            case .sync: return (try? decoder.decode(SyncState.self, from: data)).map(Decoded.sync)
            case .raftMember, .timeline: return nil
            }
        }

        private static func expected(_ k: ClusterKey) -> String {
            switch k {
            case .initialize: return "not a system identifier"
            case .member: return "not a member status"
            case .history: return "not a history"
            case .status: return "not a primary position"
            case .config: return "not a dynamic configuration"
            case .failover: return "not a failover request"
            case .sync: return "not a sync state"
            case .raftMember: return "not a raft member"
            case .timeline: return "not a timeline reservation"
            }
        }
    }

    /// `bytes` decoded from JSON as a `T`, or nil.
    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
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

/// The `timeline` key: the highest timeline number a promotion reserved, and by whom.
///
/// Postgres numbers a new timeline one above the newest timeline history file it finds, so a
/// standby that never saw a promotion would reuse that promotion's number; two different
/// histories under one number look compatible to a standby and to `pg_rewind` and are not
/// (found by the HA simulator). A promotion therefore first reserves a number above every
/// number reserved or in `history`, with compare-and-set, then makes Postgres skip to it.
public struct TimelineReservation: Codable, Hashable, Sendable {
    public var timeline: UInt32
    public var member: String
    public init(timeline: UInt32, member: String) {
        self.timeline = timeline
        self.member = member
    }

    /// The number the next promotion takes: above `reserved`, every `history` row and the
    /// candidate's own timeline.
    public static func next(after reserved: TimelineReservation?, history: [HistoryRow], own: UInt32) -> UInt32 {
        max(reserved?.timeline ?? 0, history.map(\.timeline).max() ?? 0, own) + 1
    }
}
