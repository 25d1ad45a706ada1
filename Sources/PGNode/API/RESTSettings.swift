import Foundation

/// The `restapi:` section: where the Patroni-compatible REST API listens and who may use it.
///
/// ```yaml
/// restapi:
///   listen: "0.0.0.0:8008"             # default 127.0.0.1:8008
///   connect_address: "10.0.0.1:8008"   # what the CLI and the other members use; default: listen
///   authentication: { username: admin, password_file: /etc/pgha/api-password }
///   certfile: /etc/pgha/api.crt        # TLS when both certfile and keyfile are set
///   keyfile: /etc/pgha/api.key
///   allowlist: [ "10.0.0.0/8", "127.0.0.1" ]   # default: everyone
///   allowlist_include_members: true     # members' hosts may always connect
///   request_timeout_ms: 10000           # a client must send a whole request within this
///   max_body_bytes: 65536
/// ```
/// Unsafe methods (POST, PUT, PATCH, DELETE) need the credentials when `authentication` is
/// set; safe methods never do (HAProxy's checks carry none).
public struct RESTSettings: Sendable, Hashable {
    public var listenHost: String = "127.0.0.1"
    public var listenPort: Int = 8008
    public var connectHost: String = "127.0.0.1"
    public var connectPort: Int = 8008
    public var username: String?
    public var password: String?
    public var certificateFile: String?
    public var keyFile: String?
    /// Client networks allowed to connect; empty: everyone.
    public var allowlist: [NetworkRange] = []
    public var allowlistIncludesMembers = false
    public var requestTimeoutMilliseconds = 10_000
    public var maxBodyBytes = 65_536

    public init() {}

    /// Whether the API is served over TLS.
    public var usesTLS: Bool { certificateFile != nil && keyFile != nil }

    /// The base URL the other members and the CLI use.
    public var connectURL: String { "\(usesTLS ? "https" : "http")://\(connectHost):\(connectPort)" }

    static let keys = ["allowlist", "allowlist_include_members", "authentication", "certfile", "connect_address", "keyfile",
                       "listen", "max_body_bytes", "request_timeout_ms"]

    static func parse(_ value: Any?, readFile: (String) throws -> String, _ r: inout SectionReader) -> RESTSettings {
        var s = RESTSettings()
        guard let value else { return s }
        guard let m = value as? [String: Any] else {
            r.fail("restapi", "must be a mapping")
            return s
        }
        for k in m.keys.sorted() where !keys.contains(k) {
            r.fail("restapi.\(k)", "is not a known setting (known: \(keys.joined(separator: ", ")))")
        }
        if let listen = r.address(m["listen"], "restapi.listen", required: false) {
            s.listenHost = listen.host
            s.listenPort = listen.port
            s.connectHost = listen.host == "0.0.0.0" || listen.host == "::" ? "127.0.0.1" : listen.host
            s.connectPort = listen.port
        }
        if let connect = r.address(m["connect_address"], "restapi.connect_address", required: false) {
            s.connectHost = connect.host
            s.connectPort = connect.port
        }
        if let auth = m["authentication"] {
            let (user, password) = PostgresSection.credentials(auth, "restapi.authentication", defaultName: "", readFile: readFile, &r)
            if user.isEmpty { r.fail("restapi.authentication.username", "is missing") }
            if password == nil { r.fail("restapi.authentication.password", "is missing (password or password_file)") }
            s.username = user
            s.password = password
        }
        s.certificateFile = r.path(m["certfile"], "restapi.certfile", required: false)
        s.keyFile = r.path(m["keyfile"], "restapi.keyfile", required: false)
        if (s.certificateFile == nil) != (s.keyFile == nil) {
            r.fail(s.certificateFile == nil ? "restapi.certfile" : "restapi.keyfile", "is needed too: TLS takes both certfile and keyfile")
        }
        if let list = m["allowlist"] {
            if let items = list as? [Any] {
                for (i, item) in items.enumerated() {
                    if let text = SectionReader.scalarText(item), let range = NetworkRange(parsing: text) { s.allowlist.append(range) } else {
                        r.fail("restapi.allowlist[\(i)]", "must be an address or a network (10.0.0.0/8), got '\(item)'")
                    }
                }
            } else {
                r.fail("restapi.allowlist", "must be a list of addresses or networks")
            }
        }
        if let v = m["allowlist_include_members"] { s.allowlistIncludesMembers = r.bool(v, "restapi.allowlist_include_members") ?? false }
        if let v = m["request_timeout_ms"] { s.requestTimeoutMilliseconds = r.int(v, "restapi.request_timeout_ms", in: 100...600_000) ?? s.requestTimeoutMilliseconds }
        if let v = m["max_body_bytes"] { s.maxBodyBytes = r.int(v, "restapi.max_body_bytes", in: 1_024...16_777_216) ?? s.maxBodyBytes }
        return s
    }
}
