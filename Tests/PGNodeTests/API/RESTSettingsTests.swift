import Testing
@testable import PGNode

/// The `restapi:` section, through `AgentConfig.parse` (as `AgentConfigTests`).
@Suite struct RESTSettingsTests {
    static let files = ["/etc/pgha/pg-replication": "repl-secret\n", "/etc/pgha/api-password": " api-secret \n"]

    struct NoSuchFile: Error {}

    func parse(_ restapi: String?, env: [String: String] = [:]) throws(ConfigErrors) -> RESTSettings {
        let text = AgentConfigTests.good + (restapi.map { "\nrestapi:\n" + $0 } ?? "")
        return try AgentConfig.parse(yaml: text, environment: env, isRoot: false, readFile: { path in
            guard let text = Self.files[path] ?? AgentConfigTests.files[path] else { throw NoSuchFile() }
            return text
        }).rest
    }

    /// The keys of the problems parsing `restapi` reports.
    func problemKeys(_ restapi: String) -> [String] {
        do {
            _ = try parse(restapi)
            return []
        } catch {
            return error.problems.map(\.key)
        }
    }

    @Test func defaults() throws {
        let s = try parse(nil)
        #expect(s == RESTSettings())
        #expect(s.listenHost == "127.0.0.1" && s.listenPort == 8008)
        #expect(s.connectURL == "http://127.0.0.1:8008")
        #expect(s.username == nil && s.password == nil)
        #expect(s.allowlist.isEmpty && !s.allowlistIncludesMembers)
        #expect(s.requestTimeoutMilliseconds == 10_000 && s.maxBodyBytes == 65_536)
        #expect(!s.usesTLS)
    }

    @Test func everySetting() throws {
        let s = try parse("""
          listen: "0.0.0.0:8009"
          authentication: { username: admin, password: "pw" }
          certfile: /etc/pgha/api.crt
          keyfile: /etc/pgha/api.key
          allowlist: [ "10.0.0.0/8", "127.0.0.1", "::1" ]
          allowlist_include_members: true
          request_timeout_ms: 300
          max_body_bytes: 2048
        """)
        #expect(s.listenHost == "0.0.0.0" && s.listenPort == 8009)
        #expect(s.connectHost == "127.0.0.1" && s.connectPort == 8009, "a wildcard listen is reached on loopback")
        #expect(s.username == "admin" && s.password == "pw")
        #expect(s.usesTLS)
        #expect(s.connectURL == "https://127.0.0.1:8009")
        #expect(s.allowlist.map(\.prefixLength) == [8, 32, 128])
        #expect(s.allowlistIncludesMembers)
        #expect(s.requestTimeoutMilliseconds == 300)
        #expect(s.maxBodyBytes == 2048)
    }

    @Test func connectAddressAndPasswordFile() throws {
        let s = try parse("""
          listen: "10.0.0.2:8008"
          connect_address: "pg2.example:18008"
          authentication: { username: admin, password_file: /etc/pgha/api-password }
        """)
        #expect(s.connectHost == "pg2.example" && s.connectPort == 18008)
        #expect(s.password == "api-secret")
        let listened = try parse("  listen: \"10.0.0.2:8010\"\n")
        #expect(listened.connectHost == "10.0.0.2" && listened.connectPort == 8010, "connect_address defaults to listen")
    }

    @Test func environmentOverridesListenAndPassword() throws {
        let s = try parse("  authentication: { username: admin, password_file: /etc/pgha/api-password }\n",
                          env: ["PGHA_RESTAPI_LISTEN": "127.0.0.1:9999", "PGHA_RESTAPI_AUTHENTICATION_PASSWORD": "from-env"])
        #expect(s.listenPort == 9999)
        #expect(s.password == "from-env")
    }

    static let problems: [(String, [String])] = [
        ("  foo: 1\n", ["restapi.foo"]),
        ("  listen: nope\n", ["restapi.listen"]),
        ("  listen: \"10.0.0.1:0\"\n", ["restapi.listen"]),
        ("  connect_address: [1]\n", ["restapi.connect_address"]),
        ("  authentication: { username: admin }\n", ["restapi.authentication.password"]),
        ("  authentication: { password: pw }\n", ["restapi.authentication.username"]),
        ("  authentication: \"admin:pw\"\n",
         ["restapi.authentication", "restapi.authentication.username", "restapi.authentication.password"]),
        ("  authentication: { username: admin, password: pw, password_file: /etc/pgha/api-password }\n",
         ["restapi.authentication.password_file"]),
        ("  authentication: { username: admin, password_file: /etc/pgha/missing }\n",
         ["restapi.authentication.password_file", "restapi.authentication.password"]),
        ("  certfile: /etc/pgha/api.crt\n", ["restapi.keyfile"]),
        ("  keyfile: /etc/pgha/api.key\n", ["restapi.certfile"]),
        ("  certfile: api.crt\n  keyfile: /etc/pgha/api.key\n", ["restapi.certfile"]),
        ("  allowlist: [ \"10.0.0.0/8\", \"10.0.0.0/33\" ]\n", ["restapi.allowlist[1]"]),
        ("  allowlist: [ \"somehost\" ]\n", ["restapi.allowlist[0]"]),
        ("  allowlist: \"10.0.0.0/8\"\n", ["restapi.allowlist"]),
        ("  allowlist_include_members: maybe\n", ["restapi.allowlist_include_members"]),
        ("  request_timeout_ms: 50\n", ["restapi.request_timeout_ms"]),
        ("  request_timeout_ms: soon\n", ["restapi.request_timeout_ms"]),
        ("  max_body_bytes: 100\n", ["restapi.max_body_bytes"]),
        ("  max_body_bytes: 99999999999\n", ["restapi.max_body_bytes"]),
        ("  foo: 1\n  request_timeout_ms: 50\n", ["restapi.foo", "restapi.request_timeout_ms"]),
    ]

    @Test(arguments: problems)
    func parseErrors(section: String, keys: [String]) {
        let found = problemKeys(section)
        #expect(Set(found) == Set(keys), "\(section): \(found)")
    }

    @Test func notAMapping() {
        do {
            _ = try AgentConfig.parse(yaml: AgentConfigTests.good + "\nrestapi: \"0.0.0.0:8008\"\n", isRoot: false,
                                      readFile: { path in
                guard let text = AgentConfigTests.files[path] else { throw NoSuchFile() }
                return text
            })
            Issue.record("parsed")
        } catch {
            #expect(error.problems.map(\.key) == ["restapi"])
        }
    }

    @Test func boundsAreAccepted() throws {
        let low = try parse("  request_timeout_ms: 100\n  max_body_bytes: 1024\n")
        #expect(low.requestTimeoutMilliseconds == 100 && low.maxBodyBytes == 1024)
        let high = try parse("  request_timeout_ms: 600000\n  max_body_bytes: 16777216\n")
        #expect(high.requestTimeoutMilliseconds == 600_000 && high.maxBodyBytes == 16_777_216)
    }
}
