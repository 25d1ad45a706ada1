import Foundation
import HACore

/// The JSON documents of `/patroni`, `/cluster` and `/history`, built from the agent's
/// snapshot with Patroni's field names where the concept is the same; pgha's own facts (the
/// Raft term and leader, the lease) are under `raft`.
public enum StatusDocuments {
    /// The version pgha reports as its own.
    public static let version = "0.9.0"

    /// A snapshot older than this is served marked `"stale": true`: the HA loop has not
    /// completed a cycle for that long (the process was frozen, or a base backup holds the
    /// loop), so its Raft role and its members' states may be out of date. `/cluster` then
    /// names no leader from it. Both documents always carry `snapshot_age_ms`.
    public static let staleSnapshotMs: UInt64 = 3_000

    /// `snapshot_age_ms`, and `stale` when the snapshot is older than `staleSnapshotMs`.
    static func freshness(_ s: AgentSnapshot, now: Instant) -> [String: JSONValue] {
        let age = now.milliseconds(since: s.at)
        var d: [String: JSONValue] = ["snapshot_age_ms": .int(Int64(clamping: age))]
        if age > staleSnapshotMs { d["stale"] = true }
        return d
    }

    /// `/patroni` (and the body of every `GET` health check).
    public static func member(_ s: AgentSnapshot, scope: String, leaseValid: Bool, now: Instant) -> JSONValue {
        let m = s.member
        var doc: [String: JSONValue] = freshness(s, now: now).merging([
            "state": .string(m.state.rawValue),
            "role": .string(m.role == .uninitialized ? "uninitialized" : m.role.rawValue),
            "dcs_last_seen": .int(Int64(s.atUnixMs / 1000)),
            "patroni": ["version": .string(version), "scope": .string(scope), "name": .string(m.name)],
            "raft": raft(s, leaseValid: leaseValid),
        ]) { _, new in new }
        if let v = m.serverVersion { doc["server_version"] = .int(Int64(v)) }
        if let tl = m.timeline { doc["timeline"] = .int(Int64(tl)) }
        if let id = m.systemIdentifier { doc["database_system_identifier"] = .string(String(id)) }
        if s.local.isRunningPrimary {
            doc["xlog"] = ["location": m.walPosition.map { .int(Int64($0.rawValue)) } ?? .null]
        } else if s.local.isRunningReplica {
            doc["xlog"] = [
                "received_location": m.receivedLSN.map { .int(Int64($0.rawValue)) } ?? .null,
                "replayed_location": m.replayedLSN.map { .int(Int64($0.rawValue)) } ?? .null,
                "replayed_timestamp": .null, "paused": false,
            ]
            doc["replication_state"] = .string(m.streaming ? "streaming" : "in archive recovery")
            if let f = m.following { doc["following"] = .string(f) }
        }
        if !m.replication.isEmpty {
            doc["replication"] = .array(m.replication.map { r in
                ["usename": "replicator", "application_name": .string(r.applicationName),
                 "client_addr": r.clientAddress.map { .string(hostAddress($0)) } ?? .null, "state": .string(r.state),
                 "sync_state": .string(r.syncState), "sync_priority": 0]
            })
        }
        if s.cluster.config.pause { doc["pause"] = true }
        if s.raft.leader == nil { doc["cluster_unlocked"] = true }
        let tags = tagsDocument(m.tags)
        if !tags.isEmpty { doc["tags"] = .object(tags) }
        if let w = s.waitingFor { doc["waiting_for"] = .string(w) }
        if let sync = s.cluster.sync, sync.leader != m.name, sync.members.contains(m.name), sync.quorum > 0 {
            doc[s.cluster.config.synchronousMode == .quorum ? "quorum_standby" : "sync_standby"] = true
        }
        if let pending = m.pendingRestart, !pending.isEmpty {
            doc["pending_restart"] = true
            doc["pending_restart_reason"] = .object(pending.mapValues(JSONValue.string))
        }
        if let w = m.syncWarning { doc["sync_warning"] = .string(w) }
        if let names = m.synchronousStandbyNames, !names.isEmpty { doc["synchronous_standby_names"] = .string(names) }
        if let at = m.scheduledRestartAtMs { doc["scheduled_restart"] = ["schedule": .string(iso8601(unixMs: at))] }
        return .object(doc)
    }

    /// A member's role as `/cluster` and `pgha list` name it: "leader", "sync_standby" or
    /// "quorum_standby" (named in the `sync` key's claim), "replica", "uninitialized".
    static func role(of m: MemberStatus, isLeader: Bool, _ cluster: ClusterView) -> String {
        if isLeader { return "leader" }
        if m.role == .uninitialized { return "uninitialized" }
        if let sync = cluster.sync, sync.quorum > 0, sync.leader != m.name, sync.members.contains(m.name) {
            return cluster.config.synchronousMode == .quorum ? "quorum_standby" : "sync_standby"
        }
        return "replica"
    }

    /// `/cluster`: every member (sorted by name), its role, state, timeline and lag, the Raft
    /// term and leader, maintenance mode and a scheduled switchover. From a stale snapshot
    /// (`staleSnapshotMs`) no member is named the leader.
    public static func cluster(_ s: AgentSnapshot, scope: String, leaseValid: Bool, now: Instant) -> JSONValue {
        let fresh = freshness(s, now: now)
        let leader = fresh["stale"] == nil ? s.raft.leader : nil
        let all = s.cluster.members.merging(s.cluster.staleMembers) { fresh, _ in fresh }
        let primaryLSN = [s.cluster.lastPrimaryLSN, leader.flatMap { all[$0]?.walPosition }].compactMap { $0 }.max()
        let members: [JSONValue] = all.values.sorted { $0.name < $1.name }.map { m in
            let stale = s.cluster.members[m.name] == nil
            let isLeader = m.name == leader && m.role == .primary && !stale
            var d: [String: JSONValue] = [
                "name": .string(m.name),
                "role": .string(role(of: m, isLeader: isLeader, s.cluster)),
                "state": .string(stale ? "unknown" : !isLeader && m.role == .replica && m.state == .running
                                 ? (m.streaming ? "streaming" : "in archive recovery") : m.state.rawValue),
                "host": .string(m.host), "port": .int(Int64(m.port)),
            ]
            if let api = m.apiURL { d["api_url"] = .string(api + "/patroni") }
            if let tl = m.timeline { d["timeline"] = .int(Int64(tl)) }
            let tags = tagsDocument(m.tags)
            if !tags.isEmpty { d["tags"] = .object(tags) }
            if let pending = m.pendingRestart, !pending.isEmpty {
                d["pending_restart"] = true
                d["pending_restart_reason"] = .object(pending.mapValues(JSONValue.string))
            }
            if !stale, let w = m.waitingFor { d["waiting_for"] = .string(w) }
            if !stale, let w = m.syncWarning { d["sync_warning"] = .string(w) }
            if let at = m.scheduledRestartAtMs { d["scheduled_restart"] = ["schedule": .string(iso8601(unixMs: at))] }
            if !isLeader {
                for (prefix, lsn) in [("receive_", m.receivedLSN), ("replay_", m.replayedLSN), ("", m.lsn)] {
                    if let lsn {
                        d[prefix + "lsn"] = .string(lsn.description)
                        d[prefix + "lag"] = .int(Int64(primaryLSN.map { $0.bytes(after: lsn) } ?? 0))
                    } else {
                        d[prefix + "lsn"] = "unknown"
                        d[prefix + "lag"] = "unknown"
                    }
                }
            }
            return .object(d)
        }
        var doc: [String: JSONValue] = fresh.merging(["members": .array(members), "scope": .string(scope),
                                                      "raft": raft(s, leaseValid: leaseValid)]) { _, new in new }
        if s.cluster.config.pause { doc["pause"] = true }
        if s.cluster.config.synchronousMode != .off {
            var sync: [String: JSONValue] = ["mode": .string(s.cluster.config.synchronousMode.rawValue),
                                             "strict": .bool(s.cluster.config.synchronousModeStrict)]
            if let claim = s.cluster.sync {
                sync["leader"] = .string(claim.leader)
                sync["sync_standby"] = .array(claim.members.map(JSONValue.string))
                sync["quorum"] = .int(Int64(claim.quorum))
            }
            doc["synchronous_replication"] = .object(sync)
        }
        if let f = s.cluster.failover, let at = f.scheduledAtUnixMs {
            var sw: [String: JSONValue] = ["at": .string(iso8601(unixMs: at))]
            if let l = f.leader { sw["from"] = .string(l) }
            if let c = f.candidate { sw["to"] = .string(c) }
            doc["scheduled_switchover"] = .object(sw)
        }
        if let id = s.cluster.systemIdentifier { doc["database_system_identifier"] = .string(String(id)) }
        return .object(doc)
    }

    /// `/history`: Patroni's rows `[timeline, lsn, reason, timestamp, new_leader]`, where
    /// `timeline` is the one that ended at `lsn` (the bootstrap row has no such timeline and is left out).
    public static func history(_ rows: [HistoryRow]) -> JSONValue {
        .array(rows.filter { $0.timeline > 1 || $0.reason != "bootstrap" }.map { r in
            [.int(Int64(r.timeline) - 1), .int(Int64(r.lsn.rawValue)), .string(r.reason),
             .string(iso8601(unixMs: r.atUnixMs)), .string(r.newPrimary)]
        })
    }

    static func raft(_ s: AgentSnapshot, leaseValid: Bool) -> JSONValue {
        ["term": .int(Int64(s.raft.term)), "leader": s.raft.leader.map(JSONValue.string) ?? .null,
         "role": .string(s.raft.isLeader ? "leader" : "follower"), "lease": .bool(s.raft.isLeader && leaseValid),
         "commit_index": .int(Int64(s.commitIndex)), "applied_index": .int(Int64(s.appliedIndex))]
    }

    /// `127.0.0.1` for Postgres' inet text `127.0.0.1/32` (a host's own prefix is dropped).
    static func hostAddress(_ inet: String) -> String {
        inet.hasSuffix("/32") || inet.hasSuffix("/128") ? String(inet[..<inet.lastIndex(of: "/")!]) : inet
    }

    static func tagsDocument(_ t: Tags) -> [String: JSONValue] {
        var d: [String: JSONValue] = t.other.mapValues { .string($0) }
        if t.noFailover { d["nofailover"] = true }
        if t.noLoadBalance { d["noloadbalance"] = true }
        if t.failoverPriority != 1 { d["failover_priority"] = .int(Int64(t.failoverPriority)) }
        return d
    }

    /// `2024-08-28T19:39:26.352+00:00`.
    public static func iso8601(unixMs: UInt64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(unixMs) / 1000)).replacingOccurrences(of: "Z", with: "+00:00")
    }

    /// Parses a `scheduled_at` time: ISO 8601 with a time zone (`2026-12-02T10:00:00+00:00`,
    /// `…Z`, with or without seconds or fractions). `.noTimeZone` when the zone is missing.
    public static func parseSchedule(_ text: String) -> Result<UInt64, ScheduleError> {
        let t = text.trimmingCharacters(in: .whitespaces)
        let hasZone = t.hasSuffix("Z") || t.range(of: "[+-][0-9]{2}(:?[0-9]{2})?$", options: .regularExpression) != nil
        guard hasZone else {
            return t.range(of: "^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}", options: .regularExpression) != nil
                ? .failure(.noTimeZone) : .failure(.unparsable)
        }
        var normalized = t.replacingOccurrences(of: " ", with: "T")
        // "+00" → "+00:00"; no seconds → ":00".
        if let r = normalized.range(of: "[+-][0-9]{2}$", options: .regularExpression) { normalized.replaceSubrange(r, with: normalized[r] + ":00") }
        if normalized.range(of: "T[0-9]{2}:[0-9]{2}([+-]|Z)", options: .regularExpression) != nil,
           let r = normalized.range(of: "(Z|[+-][0-9]{2}:?[0-9]{2})$", options: .regularExpression) {
            normalized.insert(contentsOf: ":00", at: r.lowerBound)
        }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let f = ISO8601DateFormatter()
            f.formatOptions = options
            if let d = f.date(from: normalized) { return .success(UInt64(max(0, d.timeIntervalSince1970 * 1000))) }
        }
        return .failure(.unparsable)
    }

    public enum ScheduleError: Error, Hashable { case noTimeZone, unparsable }
}
