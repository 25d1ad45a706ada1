import RaftCore
import Yams

extension PeerAddress {
    /// Parses `host:port` (IPv6 as `[::1]:7001`); nil if malformed or the port is out of range.
    public init?(parsing text: String) {
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let p = Int(portPart), (0...65_535).contains(p) else { return nil }
        self.init(host: String(hostPart), port: p)
    }
}

/// One peer of the store cluster.
public struct StorePeer: Hashable, Sendable {
    public var id: NodeID
    /// Where its Raft transport listens.
    public var raft: PeerAddress
    /// Where its client protocol listens.
    public var client: PeerAddress
}

/// The configuration of one cluster-store node (`pgha store run --config node.yml`).
///
/// ```yaml
/// cluster: demo
/// node: 1
/// data_dir: /var/lib/pgha/raft
/// secret_file: /etc/pgha/secret     # or `secret:`; PGHA_SECRET overrides both
/// raft: { tick_ms: 100, election_ticks: 10, heartbeat_ticks: 1, lease_ticks: 6, snapshot_every: 10000 }
/// peers:
///   - { id: 1, raft: "127.0.0.1:7001", client: "127.0.0.1:7101" }
///   - { id: 2, raft: "127.0.0.1:7002", client: "127.0.0.1:7102" }
///   - { id: 3, raft: "127.0.0.1:7003", client: "127.0.0.1:7103" }
/// ```
/// This node listens on its own entry's addresses. Environment overrides: `PGHA_SECRET`,
/// `PGHA_DATA_DIR`, `PGHA_NODE`.
public struct StoreNodeConfig: Sendable {
    public var cluster: String
    public var node: NodeID
    public var dataDirectory: String
    public var secret: [UInt8]
    public var peers: [StorePeer]
    public var tickMilliseconds: Int
    public var electionTicks: Int
    public var heartbeatTicks: Int
    public var leaseTicks: Int
    public var snapshotEvery: UInt64

    /// This node's own peer entry.
    public var me: StorePeer { peers.first { $0.id == node }! }

    /// Where each member serves clients, this node included or not.
    public func clientEndpoints(includingSelf: Bool = true) -> [NodeID: PeerAddress] {
        var endpoints: [NodeID: PeerAddress] = [:]
        for p in peers where includingSelf || p.id != node { endpoints[p.id] = p.client }
        return endpoints
    }

    /// The Raft settings this configuration implies.
    public var raftConfig: RaftConfig {
        var c = RaftConfig(id: node, randomSeed: UInt64.random(in: 1...UInt64.max))
        c.electionTicks = electionTicks
        c.heartbeatTicks = heartbeatTicks
        c.leaseTicks = leaseTicks
        return c
    }

    /// The runtime settings this configuration implies.
    public var runtimeConfig: RuntimeConfig {
        var r = RuntimeConfig(raft: raftConfig, bootstrapMembership: Membership(voters: Set(peers.map(\.id))))
        r.tickInterval = .milliseconds(tickMilliseconds)
        r.snapshotEvery = snapshotEvery
        return r
    }

    /// Parses and validates YAML text. `readFile` loads `secret_file`; `environment` supplies
    /// overrides. Every error names the offending key and says what is wrong.
    public static func parse(yaml text: String, environment: [String: String] = [:],
                             readFile: (String) throws -> String) throws(ConfigError) -> StoreNodeConfig {
        try parse(root: try loadMapping(yaml: text), environment: environment, readFile: readFile)
    }

    /// The top-level keys of a store node's file.
    static let knownKeys: Set<String> = ["cluster", "node", "data_dir", "secret", "secret_file", "raft", "peers"]

    /// Parses YAML text into its top-level mapping.
    static func loadMapping(yaml text: String) throws(ConfigError) -> [String: Any] {
        do {
            guard let doc = try Yams.load(yaml: text) else { throw ConfigError(key: "(document)", problem: "is empty") }
            guard let map = doc as? [String: Any] else { throw ConfigError(key: "(document)", problem: "must be a mapping of keys to values") }
            return map
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError(key: "(document)", problem: "is not valid YAML: \(error)")
        }
    }

    /// Parses the store's keys of `root`; top-level keys in `alsoKnown` belong to someone else
    /// (the agent's sections) and are skipped.
    static func parse(root: [String: Any], environment: [String: String], readFile: (String) throws -> String,
                      alsoKnown: Set<String> = []) throws(ConfigError) -> StoreNodeConfig {
        let known = knownKeys.union(alsoKnown)
        for key in root.keys.sorted() where !known.contains(key) {
            throw ConfigError(key: key, problem: "is not a known setting (known: \(known.sorted().joined(separator: ", ")))")
        }
        let cluster = try string(root, "cluster")
        guard cluster.range(of: "^[A-Za-z0-9_.-]{1,64}$", options: .regularExpression) != nil else {
            throw ConfigError(key: "cluster", problem: "must be 1-64 letters, digits, '.', '_' or '-'")
        }
        var node = try int(root, "node", in: 1...65_535)
        if let v = environment["PGHA_NODE"] {
            guard let n = Int(v), (1...65_535).contains(n) else { throw ConfigError(key: "PGHA_NODE", problem: "must be a node id in 1...65535") }
            node = n
        }
        let dataDir: String
        if let d = environment["PGHA_DATA_DIR"] { dataDir = d } else { dataDir = try string(root, "data_dir") }
        var secret: String
        if let s = environment["PGHA_SECRET"] {
            secret = s
        } else if let path = root["secret_file"] {
            guard let p = path as? String else { throw ConfigError(key: "secret_file", problem: "must be a file path") }
            do { secret = try readFile(p) } catch {
                throw ConfigError(key: "secret_file", problem: "cannot be read (\(error))")
            }
            secret = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let s = root["secret"] {
            guard let t = s as? String else { throw ConfigError(key: "secret", problem: "must be a string") }
            secret = t
        } else {
            throw ConfigError(key: "secret", problem: "is missing: set secret, secret_file or PGHA_SECRET")
        }
        guard secret.utf8.count >= 16 else {
            throw ConfigError(key: "secret", problem: "must be at least 16 bytes (it authenticates every peer)")
        }

        let raft = try mapping(root["raft"] ?? [String: Any](), "raft")
        for key in raft.keys.sorted() where !["tick_ms", "election_ticks", "heartbeat_ticks", "lease_ticks", "snapshot_every"].contains(key) {
            throw ConfigError(key: "raft.\(key)", problem: "is not a known setting")
        }
        let tick = try int(raft, "tick_ms", in: 1...10_000, default: 100, prefix: "raft.")
        let election = try int(raft, "election_ticks", in: 2...1_000, default: 10, prefix: "raft.")
        let heartbeat = try int(raft, "heartbeat_ticks", in: 1...1_000, default: 1, prefix: "raft.")
        let lease = try int(raft, "lease_ticks", in: 1...1_000, default: 6, prefix: "raft.")
        let snapshotEvery = try int(raft, "snapshot_every", in: 10...100_000_000, default: 10_000, prefix: "raft.")

        guard let peerList = root["peers"] as? [Any], !peerList.isEmpty else {
            throw ConfigError(key: "peers", problem: "must be a non-empty list of {id, raft, client}")
        }
        var peers: [StorePeer] = []
        for (i, item) in peerList.enumerated() {
            let at = "peers[\(i)]."
            let p = try mapping(item, "peers[\(i)]")
            let id = try int(p, "id", in: 1...65_535, prefix: at)
            guard let r = p["raft"] as? String, let raftEP = PeerAddress(parsing: r) else {
                throw ConfigError(key: at + "raft", problem: "must be host:port")
            }
            guard let c = p["client"] as? String, let clientEP = PeerAddress(parsing: c) else {
                throw ConfigError(key: at + "client", problem: "must be host:port")
            }
            if peers.contains(where: { $0.id.rawValue == UInt64(id) }) {
                throw ConfigError(key: at + "id", problem: "\(id) appears twice")
            }
            peers.append(StorePeer(id: NodeID(UInt64(id)), raft: raftEP, client: clientEP))
        }
        guard peers.contains(where: { $0.id.rawValue == UInt64(node) }) else {
            throw ConfigError(key: "node", problem: "\(node) is not one of the peers (\(peers.map { "\($0.id.rawValue)" }.joined(separator: ", ")))")
        }
        let config = StoreNodeConfig(cluster: cluster, node: NodeID(UInt64(node)), dataDirectory: dataDir,
                                     secret: Array(secret.utf8), peers: peers, tickMilliseconds: tick,
                                     electionTicks: election, heartbeatTicks: heartbeat, leaseTicks: lease,
                                     snapshotEvery: UInt64(snapshotEvery))
        do { try config.raftConfig.validate() } catch {
            throw ConfigError(key: "raft.\(Self.yamlName(error.field))", problem: error.reason)
        }
        return config
    }

    static func yamlName(_ field: String) -> String {
        switch field {
        case "electionTicks": return "election_ticks"
        case "heartbeatTicks": return "heartbeat_ticks"
        case "leaseTicks": return "lease_ticks"
        default: return field
        }
    }

    static func mapping(_ value: Any, _ key: String) throws(ConfigError) -> [String: Any] {
        guard let m = value as? [String: Any] else { throw ConfigError(key: key, problem: "must be a mapping") }
        return m
    }

    static func string(_ m: [String: Any], _ key: String) throws(ConfigError) -> String {
        guard let v = m[key] else { throw ConfigError(key: key, problem: "is missing") }
        guard let s = v as? String, !s.isEmpty else { throw ConfigError(key: key, problem: "must be a non-empty string") }
        return s
    }

    static func int(_ m: [String: Any], _ key: String, in range: ClosedRange<Int>, default d: Int? = nil,
                            prefix: String = "") throws(ConfigError) -> Int {
        guard let v = m[key] else {
            if let d { return d }
            throw ConfigError(key: prefix + key, problem: "is missing")
        }
        guard let i = v as? Int else { throw ConfigError(key: prefix + key, problem: "must be a whole number, got '\(v)'") }
        guard range.contains(i) else { throw ConfigError(key: prefix + key, problem: "must be in \(range.lowerBound)...\(range.upperBound), got \(i)") }
        return i
    }
}

/// A configuration setting that is missing or wrong.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The setting, as written in the file (dotted for nested keys), or the environment
    /// variable.
    public var key: String
    public var problem: String
    public var description: String { "config: \(key) \(problem)" }
}
