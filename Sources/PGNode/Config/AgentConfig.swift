import Foundation
import HACore
import RaftCore

/// The configuration of one agent (`pgha run --config node.yml`): the store node's settings
/// (see `StoreNodeConfig`) plus the member's name, its Postgres, tags, watchdog and HA timings.
///
/// ```yaml
/// cluster: demo
/// node: 1
/// name: pg1                         # default node<id>
/// data_dir: /var/lib/pgha/raft      # the Raft log
/// secret_file: /etc/pgha/secret
/// peers:
///   - { id: 1, name: pg1, raft: "10.0.0.1:7001", client: "10.0.0.1:7101" }
///   - …
/// postgresql:
///   data_dir: /var/lib/pgha/pgdata
///   listen: "0.0.0.0:5432"
///   connect_address: "10.0.0.1:5432"      # what the others use; default: listen
///   bin_dir: /usr/lib/postgresql/15/bin   # default: pg_config --bindir, then /usr/lib/postgresql/*/bin
///   run_as: postgres                      # when the agent is root (default postgres)
///   parameters: { shared_buffers: 1GB }
///   superuser: { username: postgres, password_file: /etc/pgha/pg-superuser }
///   replication: { username: replicator, password_file: /etc/pgha/pg-replication }
///   pg_hba: [ "host all all 10.0.0.0/8 scram-sha-256" ]
///   callbacks: { on_role_change: /etc/pgha/role-change.sh }   # also on_start, on_stop, on_restart, on_reload
///   pre_promote: /etc/pgha/fence-old-primary.sh               # non-zero exit: do not promote this member
///   callback_timeout_ms: 30000
/// tags: { nofailover: false, noloadbalance: false, failover_priority: 1, nosync: false, sync_priority: 1,
///         clonefrom: false, replicatefrom: pg2, rack: r1 }   # unknown tags are reported as they are
/// watchdog: { mode: off, device: /dev/watchdog, safety_margin: 5 }
/// ha: { loop_ms: 250, report_ms: 1000, status_round_ms: 400 }
/// restapi: { listen: "0.0.0.0:8008", connect_address: "10.0.0.1:8008" }   # see RESTSettings
/// bootstrap:
///   dcs: { synchronous_mode: on, maximum_lag_on_failover: 1048576, postgresql: { parameters: { max_connections: 200 } } }
/// ```
/// Every scalar can be overridden by an environment variable named after its path:
/// `PGHA_` + the keys joined by `_`, upper-cased (`PGHA_POSTGRESQL_DATA_DIR`,
/// `PGHA_POSTGRESQL_SUPERUSER_PASSWORD`, `PGHA_TAGS_NOFAILOVER`); the store's own overrides
/// (`PGHA_SECRET`, `PGHA_DATA_DIR`, `PGHA_NODE`) hold as before. Unknown keys are errors.
public struct AgentConfig: Sendable {
    public var store: StoreNodeConfig
    /// This member's name.
    public var name: String
    /// Member names by Raft node id, for every peer.
    public var memberNames: [NodeID: String]
    public var postgres: PostgresSection
    public var tags: Tags
    public var watchdog: WatchdogSettings
    public var ha: HATimings
    /// The REST API (`restapi:`).
    public var rest: RESTSettings
    /// `bootstrap.dcs`: the dynamic configuration a new cluster starts with (written to the
    /// store's `config` key by the member that bootstraps, if the key is absent), as Patroni.
    public var bootstrapDynamicConfig: JSONValue?

    /// The agent's top-level keys, beside the store's.
    static let agentKeys: Set<String> = ["name", "postgresql", "tags", "watchdog", "ha", "restapi", "bootstrap"]

    /// Scalar settings that environment variables may override.
    static let overridable: [[String]] = [
        ["name"],
        ["postgresql", "data_dir"], ["postgresql", "listen"], ["postgresql", "connect_address"], ["postgresql", "bin_dir"],
        ["postgresql", "run_as"], ["postgresql", "socket_dir"], ["postgresql", "log_file"],
        ["postgresql", "superuser", "username"], ["postgresql", "superuser", "password"],
        ["postgresql", "superuser", "password_file"],
        ["postgresql", "replication", "username"], ["postgresql", "replication", "password"],
        ["postgresql", "replication", "password_file"],
        ["tags", "nofailover"], ["tags", "noloadbalance"], ["tags", "failover_priority"], ["tags", "nosync"],
        ["tags", "sync_priority"], ["tags", "clonefrom"], ["tags", "replicatefrom"],
        ["watchdog", "mode"], ["watchdog", "device"], ["watchdog", "safety_margin"],
        ["ha", "loop_ms"], ["ha", "report_ms"], ["ha", "status_round_ms"],
        ["restapi", "listen"], ["restapi", "connect_address"], ["restapi", "certfile"], ["restapi", "keyfile"],
        ["restapi", "authentication", "username"], ["restapi", "authentication", "password"],
        ["restapi", "authentication", "password_file"],
    ]

    /// Parses and validates YAML text, collecting every problem: the error lists each bad key
    /// and why. `isRoot` decides the default of `postgresql.run_as`.
    public static func parse(yaml text: String, environment: [String: String] = [:], isRoot: Bool,
                             readFile: (String) throws -> String) throws(ConfigErrors) -> AgentConfig {
        var problems: [ConfigError] = []
        var root: [String: Any]
        do { root = try StoreNodeConfig.loadMapping(yaml: text) } catch { throw ConfigErrors(problems: [error]) }
        applyOverrides(&root, environment: environment)

        var store: StoreNodeConfig?
        do {
            store = try StoreNodeConfig.parse(root: root, environment: environment, readFile: readFile, alsoKnown: agentKeys)
        } catch {
            problems.append(error)
        }
        // Peer names (the store ignores them).
        var names: [NodeID: String] = [:]
        if let peers = root["peers"] as? [Any] {
            for (i, item) in peers.enumerated() {
                guard let p = item as? [String: Any] else { continue }
                for key in p.keys.sorted() where !["id", "raft", "client", "name"].contains(key) {
                    problems.append(ConfigError(key: "peers[\(i)].\(key)", problem: "is not a known setting (known: client, id, name, raft)"))
                }
                guard let id = p["id"] as? Int, id > 0 else { continue }
                if let n = p["name"] {
                    guard let s = n as? String, isMemberName(s) else {
                        problems.append(ConfigError(key: "peers[\(i)].name", problem: "must be 1-63 letters, digits, '_', '-' or '.'"))
                        continue
                    }
                    names[NodeID(UInt64(id))] = s
                } else {
                    names[NodeID(UInt64(id))] = "node\(id)"
                }
            }
            if Set(names.values).count != names.count {
                problems.append(ConfigError(key: "peers", problem: "two peers have the same name"))
            }
        }
        var r = SectionReader(problems: problems)
        let peerName = store.flatMap { names[$0.node] }
        var name = peerName ?? "node\(store?.node.rawValue ?? 0)"
        if let n = root["name"] {
            if let s = n as? String, isMemberName(s) {
                if let peerName, peerName != "node\(store?.node.rawValue ?? 0)", peerName != s {
                    r.fail("name", "is '\(s)' but this node's peer entry names it '\(peerName)'")
                } else if let store, s != peerName, let other = names.first(where: { $0.key != store.node && $0.value == s }) {
                    r.fail("name", "is '\(s)', the name of peer \(other.key.rawValue): member names must be unique")
                }
                name = s
            } else {
                r.fail("name", "must be 1-63 letters, digits, '_', '-' or '.'")
            }
        }
        if let store { names[store.node] = name }
        let postgres = PostgresSection.parse(root["postgresql"], member: name, isRoot: isRoot, readFile: readFile, &r)
        let tags = parseTags(root["tags"], &r)
        let watchdog = WatchdogSettings.parse(root["watchdog"], &r)
        let ha = HATimings.parse(root["ha"], &r)
        let rest = RESTSettings.parse(root["restapi"], readFile: readFile, &r)
        let dcs = parseBootstrap(root["bootstrap"], &r)
        guard r.problems.isEmpty, let store, let postgres else {
            throw ConfigErrors(problems: r.problems.isEmpty ? [ConfigError(key: "(document)", problem: "is incomplete")] : r.problems)
        }
        return AgentConfig(store: store, name: name, memberNames: names, postgres: postgres, tags: tags,
                           watchdog: watchdog, ha: ha, rest: rest, bootstrapDynamicConfig: dcs)
    }

    /// The `bootstrap:` section: `dcs`, a mapping that must be a valid dynamic configuration.
    static func parseBootstrap(_ value: Any?, _ r: inout SectionReader) -> JSONValue? {
        guard let value else { return nil }
        guard let m = value as? [String: Any] else {
            r.fail("bootstrap", "must be a mapping (known: dcs)")
            return nil
        }
        for key in m.keys.sorted() where key != "dcs" { r.fail("bootstrap.\(key)", "is not a known setting (known: dcs)") }
        guard let dcs = m["dcs"] else { return nil }
        guard dcs is [String: Any], let json = try? JSONValue(yamlValue: dcs) else {
            r.fail("bootstrap.dcs", "must be a mapping of dynamic settings")
            return nil
        }
        do {
            let config = try JSONDecoder().decode(DynamicConfig.self, from: Data(json.bytes))
            for name in config.postgresql.reservedNames {
                r.fail("bootstrap.dcs.postgresql.\(name)", "is set by pgha itself and may not be configured")
            }
        } catch {
            r.fail("bootstrap.dcs", "is not a valid dynamic configuration: \(RESTAPI.describe(error))")
            return nil
        }
        return json
    }

    static func isMemberName(_ s: String) -> Bool {
        s.range(of: "^[A-Za-z0-9_.-]{1,63}$", options: .regularExpression) != nil
    }

    /// Writes `PGHA_…` environment values into the document before it is parsed.
    static func applyOverrides(_ root: inout [String: Any], environment: [String: String]) {
        for path in overridable {
            let variable = "PGHA_" + path.joined(separator: "_").uppercased()
            guard let value = environment[variable] else { continue }
            set(&root, path[...], value)
            // A password from the environment replaces the file's password_file, and the other
            // way round (both from the environment still conflict).
            guard let last = path.last, last.hasPrefix("password") else { continue }
            let sibling = path.dropLast() + [last == "password" ? "password_file" : "password"]
            if environment["PGHA_" + sibling.joined(separator: "_").uppercased()] == nil { set(&root, sibling[...], nil) }
        }
    }

    /// Sets (or, with nil, removes) the value at `path`.
    private static func set(_ map: inout [String: Any], _ path: ArraySlice<String>, _ value: String?) {
        guard let key = path.first else { return }
        if path.count == 1 {
            map[key] = value.map { $0 as Any }
            return
        }
        var inner = map[key] as? [String: Any] ?? [:]
        set(&inner, path.dropFirst(), value)
        map[key] = inner
    }

    static func parseTags(_ value: Any?, _ r: inout SectionReader) -> Tags {
        var tags = Tags()
        guard let value else { return tags }
        guard let m = value as? [String: Any] else {
            r.fail("tags", "must be a mapping")
            return tags
        }
        for (key, v) in m.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "nofailover": tags.noFailover = r.bool(v, "tags.nofailover") ?? false
            case "noloadbalance": tags.noLoadBalance = r.bool(v, "tags.noloadbalance") ?? false
            case "failover_priority": tags.failoverPriority = r.int(v, "tags.failover_priority", in: 0...1_000_000) ?? 1
            case "nosync": tags.noSync = r.bool(v, "tags.nosync") ?? false
            case "sync_priority": tags.syncPriority = r.int(v, "tags.sync_priority", in: 0...1_000_000) ?? 1
            case "clonefrom": tags.cloneFrom = r.bool(v, "tags.clonefrom") ?? false
            case "replicatefrom":
                if let s = v as? String, isMemberName(s) { tags.replicateFrom = s } else { r.fail("tags.replicatefrom", "must be a member name") }
            default:
                if let s = SectionReader.scalarText(v) { tags.other[key] = s } else { r.fail("tags.\(key)", "must be a scalar") }
            }
        }
        return tags
    }
}

/// The `postgresql:` section as written (paths resolved, passwords read).
public struct PostgresSection: Sendable, Hashable {
    public var dataDirectory: String
    public var listenHost: String
    public var port: Int
    /// Where the other members and clients reach this Postgres.
    public var connectHost: String
    public var connectPort: Int
    /// nil: find it at start (`pg_config --bindir`, then `/usr/lib/postgresql/*/bin`).
    public var binDirectory: String?
    public var runAs: String?
    public var socketDirectory: String
    public var logFile: String
    public var parameters: [String: String]
    public var superuserName: String
    public var superuserPassword: String?
    public var replicationName: String
    public var replicationPassword: String?
    public var pgHba: [String]
    /// `callbacks`, `pre_promote`, `callback_timeout_ms`.
    public var callbacks: CallbackSettings = CallbackSettings()

    static let keys: Set<String> = ["data_dir", "listen", "connect_address", "bin_dir", "run_as", "socket_dir", "log_file",
                                    "parameters", "superuser", "replication", "pg_hba", "callbacks", "pre_promote",
                                    "callback_timeout_ms"]

    static func parse(_ value: Any?, member: String, isRoot: Bool, readFile: (String) throws -> String,
                      _ r: inout SectionReader) -> PostgresSection? {
        guard let value else {
            r.fail("postgresql", "is missing (it needs at least data_dir and listen)")
            return nil
        }
        guard let m = value as? [String: Any] else {
            r.fail("postgresql", "must be a mapping")
            return nil
        }
        for key in m.keys.sorted() where !keys.contains(key) {
            r.fail("postgresql.\(key)", "is not a known setting (known: \(keys.sorted().joined(separator: ", ")))")
        }
        let dataDir = r.path(m["data_dir"], "postgresql.data_dir", required: true)
        let listen = r.address(m["listen"], "postgresql.listen", required: true)
        var connect = r.address(m["connect_address"], "postgresql.connect_address", required: false)
        if connect == nil, let listen {
            if ["0.0.0.0", "::", "*", ""].contains(listen.host) {
                r.fail("postgresql.connect_address", "is required when listen is a wildcard address (\(listen.host)): the others need an address to reach this Postgres")
            } else {
                connect = listen
            }
        }
        let bin = r.path(m["bin_dir"], "postgresql.bin_dir", required: false)
        var runAs: String? = isRoot ? "postgres" : nil
        if let v = m["run_as"] {
            if let s = v as? String, !s.isEmpty {
                if isRoot { runAs = s } else if s != currentUserName() {
                    r.fail("postgresql.run_as", "is '\(s)', but the agent is not root and can only run Postgres as itself (\(currentUserName()))")
                }
            } else {
                r.fail("postgresql.run_as", "must be an OS user name")
            }
        }
        let base = dataDir.map { ($0 as NSString).deletingLastPathComponent } ?? "/tmp"
        let socketDir = r.path(m["socket_dir"], "postgresql.socket_dir", required: false) ?? base + "/run-\(member)"
        if socketDir.utf8.count > 90 {
            r.fail("postgresql.socket_dir", "is \(socketDir.utf8.count) bytes long; a Unix socket path must stay below 108 bytes: choose a shorter socket_dir")
        }
        let logFile = r.path(m["log_file"], "postgresql.log_file", required: false) ?? base + "/postgresql-\(member).log"
        var parameters: [String: String] = [:]
        if let p = m["parameters"] {
            if let pm = p as? [String: Any] {
                for (k, v) in pm {
                    if let s = SectionReader.scalarText(v) { parameters[k] = s } else {
                        r.fail("postgresql.parameters.\(k)", "must be a scalar")
                    }
                }
                for owned in PostgresSection.ownedParameters where parameters[owned] != nil {
                    r.fail("postgresql.parameters.\(owned)", "is set by pgha itself and may not be configured")
                }
            } else {
                r.fail("postgresql.parameters", "must be a mapping of Postgres settings")
            }
        }
        let (su, suPassword) = credentials(m["superuser"], "postgresql.superuser", defaultName: "postgres", readFile: readFile, &r)
        let (repl, replPassword) = credentials(m["replication"], "postgresql.replication", defaultName: "replicator",
                                               readFile: readFile, &r)
        var hba: [String] = []
        if let h = m["pg_hba"] {
            if let list = h as? [Any], list.allSatisfy({ $0 is String }) { hba = list.map { $0 as! String } } else {
                r.fail("postgresql.pg_hba", "must be a list of pg_hba.conf lines")
            }
        }
        var callbacks = CallbackSettings(scripts: CallbackSettings.parseScripts(m["callbacks"], &r))
        if let p = m["pre_promote"] { callbacks.prePromote = CallbackSettings.parseCommand(p, "postgresql.pre_promote", &r) }
        if let t = m["callback_timeout_ms"], let ms = r.int(t, "postgresql.callback_timeout_ms", in: 100...3_600_000) {
            callbacks.timeout = .milliseconds(ms)
        }
        guard let dataDir, let listen, let connect else { return nil }
        return PostgresSection(dataDirectory: dataDir, listenHost: listen.host, port: listen.port, connectHost: connect.host,
                               connectPort: connect.port, binDirectory: bin, runAs: runAs, socketDirectory: socketDir,
                               logFile: logFile, parameters: parameters, superuserName: su, superuserPassword: suPassword,
                               replicationName: repl, replicationPassword: replPassword, pgHba: hba, callbacks: callbacks)
    }

    /// Settings pgha renders itself; a user's `parameters` may not set them.
    public static var ownedParameters: [String] { PostgresSettings.reservedParameters.sorted() }

    static func credentials(_ value: Any?, _ key: String, defaultName: String, readFile: (String) throws -> String,
                                    _ r: inout SectionReader) -> (String, String?) {
        guard let value else { return (defaultName, nil) }
        guard let m = value as? [String: Any] else {
            r.fail(key, "must be a mapping with username and password or password_file")
            return (defaultName, nil)
        }
        for k in m.keys.sorted() where !["username", "password", "password_file"].contains(k) {
            r.fail("\(key).\(k)", "is not a known setting (known: password, password_file, username)")
        }
        var name = defaultName
        if let u = m["username"] {
            if let s = u as? String, s.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil { name = s } else {
                r.fail("\(key).username", "must be a Postgres role name (letters, digits, '_')")
            }
        }
        var password: String?
        if let p = m["password"] {
            if let s = SectionReader.scalarText(p), !s.isEmpty { password = s } else { r.fail("\(key).password", "must be a non-empty string") }
        }
        if let f = m["password_file"] {
            if password != nil { r.fail("\(key).password_file", "conflicts with \(key).password: set one") }
            if let path = f as? String {
                do {
                    password = try readFile(path).trimmingCharacters(in: .whitespacesAndNewlines)
                } catch {
                    r.fail("\(key).password_file", "cannot be read: \((error as? CocoaError)?.localizedDescription ?? "\(error)")")
                }
            } else {
                r.fail("\(key).password_file", "must be a file path")
            }
        }
        return (name, password)
    }

    static func currentUserName() -> String {
        ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
    }
}

extension WatchdogSettings {
    /// The `watchdog:` section (Patroni's names: mode, device, safety_margin).
    static func parse(_ value: Any?, _ r: inout SectionReader) -> WatchdogSettings {
        guard let value else { return WatchdogSettings() }
        guard let m = value as? [String: Any] else {
            r.fail("watchdog", "must be a mapping")
            return WatchdogSettings()
        }
        for k in m.keys.sorted() where !["mode", "device", "safety_margin"].contains(k) {
            r.fail("watchdog.\(k)", "is not a known setting (known: device, mode, safety_margin)")
        }
        // YAML 1.1 reads a bare `off` as false.
        let mode = m["mode"].map { v -> String in (v as? Bool).map { $0 ? "on" : "off" } ?? SectionReader.scalarText(v) ?? "\(v)" }
        var margin: Int?
        if let v = m["safety_margin"] { margin = r.int(v, "watchdog.safety_margin", in: 0...3_600) }
        do {
            return try WatchdogSettings(mode: mode, device: m["device"].map { SectionReader.scalarText($0) ?? "\($0)" },
                                        safetyMarginSeconds: margin)
        } catch {
            let text = error.description
            let colon = text.firstIndex(of: ":") ?? text.startIndex
            r.fail(String(text[..<colon]), String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
            return WatchdogSettings()
        }
    }
}

/// How often the agent decides, reports and waits (the `ha:` section).
public struct HATimings: Sendable, Hashable {
    /// The HA loop runs this often, and at once on every Raft role change.
    public var loopMilliseconds: Int = 250
    /// How often the member's status is written to the store (each write is fsynced on a quorum).
    public var reportMilliseconds: Int = 1_000
    /// How long a new leader waits for the members' answers in its status round.
    public var statusRoundMilliseconds: Int = 400

    static func parse(_ value: Any?, _ r: inout SectionReader) -> HATimings {
        var t = HATimings()
        guard let value else { return t }
        guard let m = value as? [String: Any] else {
            r.fail("ha", "must be a mapping")
            return t
        }
        for (k, v) in m.sorted(by: { $0.key < $1.key }) {
            switch k {
            case "loop_ms": t.loopMilliseconds = r.int(v, "ha.loop_ms", in: 10...60_000) ?? t.loopMilliseconds
            case "report_ms": t.reportMilliseconds = r.int(v, "ha.report_ms", in: 100...600_000) ?? t.reportMilliseconds
            case "status_round_ms": t.statusRoundMilliseconds = r.int(v, "ha.status_round_ms", in: 50...10_000) ?? t.statusRoundMilliseconds
            default: r.fail("ha.\(k)", "is not a known setting (known: loop_ms, report_ms, status_round_ms)")
            }
        }
        return t
    }
}

/// Every problem of a configuration file.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigError]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads typed values out of YAML (or environment strings), collecting problems.
struct SectionReader {
    var problems: [ConfigError]

    mutating func fail(_ key: String, _ problem: String) { problems.append(ConfigError(key: key, problem: problem)) }

    static func scalarText(_ v: Any) -> String? {
        switch v {
        case let s as String: return s
        case let b as Bool: return b ? "on" : "off"
        case let i as Int: return String(i)
        case let d as Double: return String(d)
        default: return nil
        }
    }

    mutating func bool(_ v: Any, _ key: String) -> Bool? {
        if let b = v as? Bool { return b }
        if let s = v as? String {
            switch s.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: break
            }
        }
        fail(key, "must be true or false, got '\(v)'")
        return nil
    }

    mutating func int(_ v: Any, _ key: String, in range: ClosedRange<Int>) -> Int? {
        let i = (v as? Int) ?? (v as? String).flatMap { Int($0) }
        guard let i else {
            fail(key, "must be a whole number, got '\(v)'")
            return nil
        }
        guard range.contains(i) else {
            fail(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(i)")
            return nil
        }
        return i
    }

    mutating func path(_ v: Any?, _ key: String, required: Bool) -> String? {
        guard let v else {
            if required { fail(key, "is missing") }
            return nil
        }
        guard let s = v as? String, s.hasPrefix("/") else {
            fail(key, "must be an absolute path, got '\(v)'")
            return nil
        }
        return s
    }

    mutating func address(_ v: Any?, _ key: String, required: Bool) -> PeerAddress? {
        guard let v else {
            if required { fail(key, "is missing (host:port)") }
            return nil
        }
        guard let s = SectionReader.scalarText(v), let a = PeerAddress(parsing: s), a.port > 0 else {
            fail(key, "must be host:port, got '\(v)'")
            return nil
        }
        return a
    }
}
