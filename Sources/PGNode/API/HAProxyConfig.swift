import Foundation

/// A working HAProxy configuration in front of a pgha cluster (what `pgha haproxy-config`
/// prints): a read-write port whose backends are checked with `OPTIONS /primary` (200 only on
/// the writable primary that holds the lease) and a read-only port checked with
/// `OPTIONS /replica`; a backend marked down has its sessions shut, so clients reconnect to
/// the new primary at once.
public struct HAProxyConfig: Sendable, Hashable {
    /// One member: where its Postgres and its REST API listen.
    public struct Member: Sendable, Hashable {
        public var name: String
        public var postgresHost: String
        public var postgresPort: Int
        public var restPort: Int
        public var restUsesTLS: Bool
        public init(name: String, postgresHost: String, postgresPort: Int, restPort: Int, restUsesTLS: Bool = false) {
            self.name = name
            self.postgresHost = postgresHost
            self.postgresPort = postgresPort
            self.restPort = restPort
            self.restUsesTLS = restUsesTLS
        }
    }

    public var members: [Member]
    public var bind: String = "127.0.0.1"
    public var primaryPort: Int = 5000
    public var replicaPort: Int = 5001
    /// Check interval in milliseconds; a backend changes state after `fall` failed or `rise`
    /// passed checks.
    public var checkIntervalMs: Int = 1_000
    public var fall: Int = 2
    public var rise: Int = 1
    /// Where HAProxy's statistics page listens (nil: none).
    public var statsPort: Int?

    public init(members: [Member]) { self.members = members }

    /// The members of a `GET /cluster` document (those without a Postgres address or an
    /// `api_url` are left out), in name order; the check port is each member's API port, with
    /// `check-ssl` when its API is https.
    public init(cluster doc: JSONValue) {
        members = (doc["members"]?.arrayValue ?? []).compactMap { m in
            guard let name = m["name"]?.stringValue, let host = m["host"]?.stringValue, let port = m["port"]?.intValue,
                  let api = m["api_url"]?.stringValue, let url = URLComponents(string: api) else { return nil }
            let tls = url.scheme?.lowercased() == "https"
            return Member(name: name, postgresHost: host, postgresPort: Int(port), restPort: url.port ?? (tls ? 443 : 80), restUsesTLS: tls)
        }.sorted { $0.name < $1.name }
    }

    /// The configuration text.
    public var text: String {
        var lines = [
            "# HAProxy in front of a pgha cluster (written by pgha haproxy-config).",
            "global",
            "    maxconn 1000",
            "",
            "defaults",
            "    mode tcp",
            "    retries 2",
            "    timeout client 30m",
            "    timeout connect 4s",
            "    timeout server 30m",
            "    timeout check 2s",
        ]
        let bind = self.bind.contains(":") ? "[\(self.bind)]" : self.bind
        if let statsPort {
            lines += ["listen stats", "    mode http", "    bind \(bind):\(statsPort)", "    stats enable", "    stats uri /"]
        }
        for (name, port, path) in [("primary", primaryPort, "/primary"), ("replicas", replicaPort, "/replica")] {
            lines += [
                "",
                "listen \(name)",
                "    bind \(bind):\(port)",
                "    option httpchk OPTIONS \(path)",
                "    http-check expect status 200",
                "    default-server inter \(checkIntervalMs)ms fall \(fall) rise \(rise) on-marked-down shutdown-sessions",
            ]
            if name == "replicas" { lines.append("    balance roundrobin") }
            for m in members {
                let host = m.postgresHost.contains(":") ? "[\(m.postgresHost)]" : m.postgresHost
                // The check does not verify the API's certificate (HAProxy would need its CA file).
                lines.append("    server \(m.name) \(host):\(m.postgresPort) maxconn 100 check"
                    + (m.restUsesTLS ? " check-ssl verify none" : "") + " port \(m.restPort)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
