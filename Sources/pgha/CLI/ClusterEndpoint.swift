import ArgumentParser
import Foundation
import NIOHTTP1
import PGNode

/// Where the CLI finds the cluster's REST API, and with which credentials.
struct APIOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "An agent configuration file: its restapi section gives the API's address, TLS and credentials.")
    var config: String?
    @Option(name: .long, help: ArgumentHelp("A REST API URL, e.g. http://127.0.0.1:8008 (repeatable; tried in order).", valueName: "url"))
    var endpoint: [String] = []
    @Option(help: "The API's basic-auth user (default: $PGHA_API_USERNAME, else the config file's).") var username: String?
    @Option(help: "The API's basic-auth password (default: $PGHA_API_PASSWORD, else the config file's).") var password: String?
    @Flag(name: [.customShort("k"), .long], help: "Do not verify the API's TLS certificate.") var insecure = false
    @Option(help: ArgumentHelp("A PEM file of CA certificates to verify the API's TLS certificate with.", valueName: "file")) var cacert: String?
    @Option(help: "Seconds to wait for each answer.") var timeout: Double = 10
}

/// The cluster's REST API as the CLI sees it: the endpoints to try, in order, and the
/// credentials for unsafe requests.
///
/// Reads (`document`) try every endpoint until one answers 200 with JSON; unsafe requests
/// (`send`) go to the URLs they are given and move to the next only when one cannot be
/// reached, never after an HTTP answer. Every failure is a `CLIError` of one line.
struct ClusterEndpoint: Sendable {
    /// Base URLs (`http://host:port`), in the order they are tried.
    var endpoints: [String]
    var username: String?
    var password: String?
    var insecure: Bool
    var caFile: String?
    var timeout: Duration
    /// The cluster's name from the config file, if one was given.
    var clusterName: String?

    init(_ o: APIOptions) throws {
        let env = ProcessInfo.processInfo.environment
        var endpoints = o.endpoint.map(Self.baseURL)
        var user = o.username ?? env["PGHA_API_USERNAME"]
        var password = o.password ?? env["PGHA_API_PASSWORD"]
        if let path = o.config {
            let config = try loadAgentConfig(path)
            endpoints.append(config.rest.connectURL)
            if user == nil && password == nil {
                user = config.rest.username
                password = config.rest.password
            }
            clusterName = config.store.cluster
        }
        if endpoints.isEmpty { endpoints = ["http://127.0.0.1:8008"] }
        var seen: Set<String> = []
        self.endpoints = endpoints.filter { seen.insert($0).inserted }
        self.username = user
        self.password = password
        insecure = o.insecure
        caFile = o.cacert
        guard o.timeout > 0 else { throw ValidationError("--timeout must be positive") }
        timeout = .milliseconds(Int64(o.timeout * 1000))
    }

    /// `http://h:p/patroni` → `http://h:p`; a URL without a scheme gets `http://`.
    static func baseURL(_ url: String) -> String {
        var u = url.trimmingCharacters(in: .whitespaces)
        if !u.contains("://") { u = "http://" + u }
        while u.hasSuffix("/") { u.removeLast() }
        if u.hasSuffix("/patroni") { u.removeLast("/patroni".count) }
        return u
    }

    /// GETs `path` from the first endpoint (of `preferring`, then the configured ones) that
    /// answers 200 with JSON; the document and the base URL that answered. A document marked
    /// `stale` (an agent whose HA loop has not run for a while, `StatusDocuments.staleSnapshotMs`)
    /// is returned only when no other endpoint answers with a fresh one.
    func document(_ path: String, preferring: [String] = []) async throws -> (doc: JSONValue, from: String) {
        var failures: [String] = []
        var stale: (doc: JSONValue, from: String)?
        for base in ordered(preferring) {
            do {
                let r = try await RESTClient.request(method: .GET, url: base + path, timeout: timeout, insecure: insecure, caFile: caFile)
                guard r.status == 200 else { failures.append("\(base)\(path) answered \(r.status): \(r.text)"); continue }
                guard let doc = JSONValue(parsing: r.body) else { failures.append("\(base)\(path) answered something other than JSON"); continue }
                if doc["stale"] == .bool(true) {
                    stale = stale ?? (doc, base)
                    continue
                }
                return (doc, base)
            } catch {
                failures.append("\(error)")
            }
        }
        if let stale { return stale }
        throw CLIError(failures.count == 1 ? failures[0] : "no REST API answered: " + failures.joined(separator: "; "))
    }

    /// The cluster's state (`GET /cluster`).
    func cluster() async throws -> ClusterInfo {
        let (doc, from) = try await document("/cluster")
        return ClusterInfo(doc: doc, answeredBy: from, fallbackName: clusterName)
    }

    /// Sends an unsafe request to the first of `targets` that can be reached (the configured
    /// endpoints when empty) and returns its answer; a non-2xx answer is a `CLIError` saying
    /// `<action> refused (<code>): <text>`.
    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil, to targets: [String] = [],
              action: String, timeout: Duration? = nil) async throws -> RESTClient.Response {
        var failures: [String] = []
        for base in targets.isEmpty ? endpoints : targets {
            let r: RESTClient.Response
            do {
                r = try await RESTClient.request(method: method, url: base + path, body: body?.bytes, username: username,
                                                 password: password, timeout: timeout ?? self.timeout, insecure: insecure, caFile: caFile)
            } catch {
                failures.append("\(error)")
                continue
            }
            guard r.isSuccess else {
                var text = r.text.isEmpty ? (HTTPResponseStatus(statusCode: r.status).reasonPhrase) : r.text
                if r.status == 401 { text += " (give --username and --password, or PGHA_API_USERNAME and PGHA_API_PASSWORD)" }
                throw CLIError("\(action) refused (\(r.status)): \(text)")
            }
            return r
        }
        throw CLIError(failures.count == 1 ? failures[0] : "\(action): no REST API answered: " + failures.joined(separator: "; "))
    }

    private func ordered(_ preferred: [String]) -> [String] {
        var seen: Set<String> = []
        return (preferred + endpoints).filter { seen.insert($0).inserted }
    }
}

/// A `GET /cluster` answer with the facts the commands need.
struct ClusterInfo: Sendable {
    var doc: JSONValue
    /// The base URL that answered.
    var answeredBy: String
    var fallbackName: String?

    struct Member: Sendable, Hashable {
        var name: String
        var role: String
        /// The member's API base URL (`api_url` without `/patroni`).
        var api: String?
        var tags: [String: JSONValue]
        /// Bytes behind the last known primary position (`lag` of `/cluster`), when known.
        var lag: Int64?
    }

    var name: String { doc["scope"]?.stringValue ?? fallbackName ?? "(unknown)" }
    var paused: Bool { doc["pause"]?.boolValue ?? false }
    var members: [Member] {
        (doc["members"]?.arrayValue ?? []).compactMap { m in
            guard let name = m["name"]?.stringValue else { return nil }
            return Member(name: name, role: m["role"]?.stringValue ?? "", api: m["api_url"]?.stringValue.map(ClusterEndpoint.baseURL),
                          tags: m["tags"]?.objectValue ?? [:], lag: m["lag"]?.intValue)
        }
    }
    var leader: Member? { members.first { $0.role == "leader" || $0.role == "standby_leader" } }
    func member(_ name: String) -> Member? { members.first { $0.name == name } }

    /// The member's API URL, or a `CLIError` naming the known members.
    func api(of name: String) throws -> String {
        guard let m = member(name) else {
            throw CLIError("member \(name) is not in cluster \(self.name) (members: \(members.map(\.name).joined(separator: ", ")))")
        }
        guard let api = m.api else { throw CLIError("member \(name) has not published its REST API address") }
        return api
    }

    var table: MemberTable { MemberTable(cluster: doc, clusterName: fallbackName) }
}

/// A failure of a CLI command: printed as `Error: <message>` on stderr, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// `--format`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case pretty, json, yaml
}

/// Questions on the terminal.
enum Terminal {
    static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

    /// Asks `question [y/N]`; false unless the answer is y or yes. Throws when stdin is not a
    /// terminal (the command then needs --force).
    static func confirm(_ question: String) throws -> Bool {
        guard isInteractive else { throw CLIError("cannot ask \"\(question)\": stdin is not a terminal (use --force to go ahead without asking)") }
        print("\(question) [y/N]: ", terminator: "")
        fflush(nil)
        guard let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return answer == "y" || answer == "yes"
    }

    /// Asks for a value; `default` when the answer is empty (nil on end of input).
    static func ask(_ prompt: String, default value: String?) -> String? {
        print(prompt, terminator: "")
        fflush(nil)
        guard let answer = readLine()?.trimmingCharacters(in: .whitespaces) else { return value }
        return answer.isEmpty ? value : answer
    }
}

/// Prints a JSON value as `--format` asks (pretty is handled by the caller).
func printDocument(_ value: JSONValue, _ format: OutputFormat) {
    switch format {
    case .json: print(value.prettyJSON)
    case .yaml, .pretty: print(value.yamlText, terminator: "")
    }
}
