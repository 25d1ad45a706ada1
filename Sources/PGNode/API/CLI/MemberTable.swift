/// The rows of `pgha list` and `pgha topology`, built from a `GET /cluster` document, and
/// their renderings: a patronictl-style table, or records for `--format json|yaml`.
///
/// Lags are in MB (`round(bytes / 1 MiB)`, as patronictl), an `unknown` lag is empty; the
/// host is `host:port` when any port is not 5432 or two members share a host.
public struct MemberTable: Sendable {
    /// One member as shown.
    public struct Row: Sendable, Hashable {
        public var member: String
        public var host: String
        public var role: String
        public var state: String
        public var timeline: String
        public var receiveLSN: String
        public var receiveLag: String
        public var replayLSN: String
        public var replayLag: String
        public var lag: String
        public var pendingRestart: String
        public var scheduledRestart: String
        public var tags: String
        /// The tags as JSON, for the records.
        public var tagsValue: JSONValue?
        /// Nesting depth in the topology (0: the leader).
        public var depth: Int = 0
    }

    public var cluster: String
    public var systemIdentifier: String?
    public var raftTerm: Int64?
    public var raftLeader: String?
    public var paused: Bool
    /// `scheduled_switchover` of `/cluster`: at, from, to.
    public var scheduledSwitchover: (at: String, from: String?, to: String?)?
    /// In `/cluster` order (by name).
    public var rows: [Row]
    /// Lines under the table: a primary whose commits wait, what the Raft leader waits for.
    public var notes: [String] = []

    /// Reads a `/cluster` document (pgha's or Patroni's); `clusterName` is used when it has no `scope`.
    public init(cluster doc: JSONValue, clusterName: String? = nil) {
        cluster = doc["scope"]?.stringValue ?? clusterName ?? "(unknown)"
        systemIdentifier = doc["database_system_identifier"]?.stringValue
        raftTerm = doc["raft"]?["term"]?.intValue
        raftLeader = doc["raft"]?["leader"]?.stringValue
        paused = doc["pause"]?.boolValue ?? false
        if let s = doc["scheduled_switchover"], let at = s["at"]?.displayText {
            scheduledSwitchover = (at, s["from"]?.stringValue, s["to"]?.stringValue)
        }
        let members = doc["members"]?.arrayValue ?? []
        for m in members {
            guard let name = m["name"]?.stringValue else { continue }
            if let w = m["sync_warning"]?.stringValue { notes.append("\(name): \(w)") }
            if name == raftLeader, let w = m["waiting_for"]?.stringValue { notes.append("\(name) (Raft leader) waits: \(w)") }
        }
        if let sync = doc["synchronous_replication"], let mode = sync["mode"]?.stringValue {
            var line = "Synchronous mode: \(mode)" + (sync["strict"]?.boolValue == true ? " (strict)" : "")
            if let q = sync["quorum"]?.intValue, let names = sync["sync_standby"]?.arrayValue {
                line += ", \(q) of [\(names.compactMap(\.stringValue).joined(separator: ", "))] hold every acknowledged commit"
            }
            notes.insert(line, at: 0)
        }
        let ports = members.map { $0["port"]?.intValue ?? 5432 }
        let hosts = members.map { $0["host"]?.displayText ?? "" }
        let withPort = ports.contains { $0 != 5432 } || Set(hosts).count != hosts.count
        rows = members.enumerated().map { i, m in
            func lag(_ key: String) -> String {
                guard let v = m[key], let bytes = v.intValue else { return "" }
                return String(Int64((Double(bytes) / 1_048_576).rounded()))
            }
            var scheduled = m["scheduled_restart"]?["schedule"]?.displayText ?? ""
            if let v = m["scheduled_restart"]?["postgres_version"]?.displayText, !scheduled.isEmpty { scheduled += " if version < \(v)" }
            let tags = m["tags"]?.objectValue ?? [:]
            return Row(member: m["name"]?.displayText ?? "?",
                       host: withPort ? "\(hosts[i]):\(ports[i])" : hosts[i],
                       role: Self.title(m["role"]?.displayText ?? ""),
                       state: m["state"]?.displayText ?? "",
                       timeline: m["timeline"]?.displayText ?? "",
                       receiveLSN: m["receive_lsn"]?.displayText ?? "", receiveLag: lag("receive_lag"),
                       replayLSN: m["replay_lsn"]?.displayText ?? "", replayLag: lag("replay_lag"),
                       lag: lag("lag"),
                       pendingRestart: m["pending_restart"]?.boolValue == true ? "*" : "",
                       scheduledRestart: scheduled,
                       tags: tags.keys.sorted().map { "\($0): \(tags[$0]!.displayText)" }.joined(separator: ", "),
                       tagsValue: tags.isEmpty ? nil : .object(tags))
        }
    }

    /// `leader` → `Leader`, `sync_standby` → `Sync Standby` (patronictl's `title()`).
    static func title(_ role: String) -> String {
        role.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined(separator: " ")
    }

    /// The title over the table: `Cluster: demo (7123…), Raft term 4`.
    public var heading: String {
        var t = "Cluster: \(cluster) (\(systemIdentifier ?? "uninitialized"))"
        if let raftTerm { t += ", Raft term \(raftTerm)" }
        return t
    }

    /// The table as `pgha list` prints it, with the footer lines (maintenance mode, a
    /// scheduled switchover). `extended` adds the LSN columns, restarts and tags; columns for
    /// pending and scheduled restarts and tags also appear when any member has one.
    /// `topology` orders and indents the rows as `topologyRows`.
    public func pretty(extended: Bool = false, topology: Bool = false) -> String {
        var columns: [(TextTable.Column, (Row) -> String)] = [
            (.init("Member"), { r in (r.depth > 0 ? String(repeating: "  ", count: r.depth - 1) + "+ " : "") + r.member }),
            (.init("Host"), \.host), (.init("Role"), \.role), (.init("State"), \.state),
            (.init("TL", rightAligned: true), \.timeline),
        ]
        if extended {
            columns += [(.init("Receive LSN", rightAligned: true), \.receiveLSN), (.init("Receive Lag", rightAligned: true), \.receiveLag),
                        (.init("Replay LSN", rightAligned: true), \.replayLSN), (.init("Replay Lag", rightAligned: true), \.replayLag)]
        }
        columns.append((.init("Lag in MB", rightAligned: true), \.lag))
        if extended || rows.contains(where: { !$0.pendingRestart.isEmpty }) { columns.append((.init("Pending restart"), \.pendingRestart)) }
        if extended || rows.contains(where: { !$0.scheduledRestart.isEmpty }) { columns.append((.init("Scheduled restart"), \.scheduledRestart)) }
        if extended || rows.contains(where: { !$0.tags.isEmpty }) { columns.append((.init("Tags"), \.tags)) }
        let shown = topology ? topologyRows : rows
        var out = TextTable(columns: columns.map(\.0), rows: shown.map { r in columns.map { $0.1(r) } }, title: heading).render()
        if paused { out += "\n Maintenance mode: on" }
        for n in notes { out += "\n " + n }
        if let s = scheduledSwitchover {
            out += "\n" + Self.footer("Switchover scheduled at", s.at)
            if let f = s.from { out += "\n" + Self.footer("from", f) }
            if let t = s.to { out += "\n" + Self.footer("to", t) }
        }
        return out
    }

    /// patronictl's `'{0:>24}: {1}'`.
    static func footer(_ label: String, _ value: String) -> String {
        String(repeating: " ", count: max(0, 24 - label.count)) + label + ": " + value
    }

    /// The leader first, then its replicas, each under the member it replicates from (the
    /// `replicatefrom` tag), depth-first by name; members outside the tree come last.
    public var topologyRows: [Row] {
        let byName = Dictionary(rows.map { ($0.member, $0) }, uniquingKeysWith: { a, _ in a })
        guard let leader = rows.first(where: { $0.role == "Leader" || $0.role == "Standby Leader" }) else { return rows }
        func parent(_ r: Row) -> String? {
            if r.member == leader.member { return nil }
            if let up = r.tagsValue?["replicatefrom"]?.stringValue, up != r.member, byName[up] != nil { return up }
            return leader.member
        }
        var children: [String: [Row]] = [:]
        for r in rows { if let p = parent(r) { children[p, default: []].append(r) } }
        var out: [Row] = []
        var seen: Set<String> = []
        func visit(_ r: Row, _ depth: Int) {
            guard seen.insert(r.member).inserted else { return }
            var r = r
            r.depth = depth
            out.append(r)
            for c in (children[r.member] ?? []).sorted(by: { $0.member < $1.member }) { visit(c, depth + 1) }
        }
        visit(leader, 0)
        for r in rows where !seen.contains(r.member) {
            var r = r
            r.depth = 1
            out.append(r)
        }
        return out
    }

    /// The rows as patronictl's `--format json|yaml` records: keys `Cluster, Member, Host,
    /// Role, State, TL, Receive LSN, Receive Lag, Replay LSN, Replay Lag, Lag in MB, Pending
    /// restart, Scheduled restart, Tags`; empty values are left out; lags and TL are numbers.
    public func records(topology: Bool = false) -> JSONValue {
        .array((topology ? topologyRows : rows).map { r in
            var o: [String: JSONValue] = ["Cluster": .string(cluster)]
            func put(_ key: String, _ value: String, number: Bool = false) {
                guard !value.isEmpty else { return }
                o[key] = number ? Int64(value).map(JSONValue.int) ?? .string(value) : .string(value)
            }
            put("Member", r.member); put("Host", r.host); put("Role", r.role); put("State", r.state)
            put("TL", r.timeline, number: true)
            put("Receive LSN", r.receiveLSN); put("Receive Lag", r.receiveLag, number: true)
            put("Replay LSN", r.replayLSN); put("Replay Lag", r.replayLag, number: true)
            put("Lag in MB", r.lag, number: true)
            put("Pending restart", r.pendingRestart); put("Scheduled restart", r.scheduledRestart)
            if let t = r.tagsValue { o["Tags"] = t }
            return .object(o)
        })
    }
}
