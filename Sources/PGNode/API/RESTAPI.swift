import Foundation
import HACore
import Logging
import NIOCore
import NIOHTTP1
import RaftCore

/// The Patroni-compatible REST API's routes: from a request to a response. Paths, methods and
/// status codes follow Patroni 4 (see README "REST API" for where pgha differs and why).
///
/// Health checks and state answer from the agent's published snapshot and the lease fence's
/// deadline, never waiting for the HA loop; actions write the store or queue a local
/// operation. Unsafe methods pass the allowlist and basic authentication first.
public struct RESTAPI: Sendable {
    public let backend: any RESTBackend
    public let settings: RESTSettings
    let logger: Logger
    /// Observes every answered request (path, status), for metrics.
    let onAnswer: @Sendable (_ route: String, _ status: Int) -> Void

    /// How long `POST /switchover` and `/failover` wait for the outcome before answering 503.
    public var switchoverWait: Duration = .seconds(30)

    public init(backend: any RESTBackend, settings: RESTSettings, logger: Logger,
                onAnswer: @escaping @Sendable (String, Int) -> Void = { _, _ in }) {
        self.backend = backend
        self.settings = settings
        self.logger = logger
        self.onAnswer = onAnswer
    }

    /// The known paths of state and actions (beside `HealthCheck.paths`).
    static let statePaths: Set<String> = ["/patroni", "/cluster", "/history", "/config", "/metrics"]
    static let actionPaths: Set<String> = ["/switchover", "/failover", "/restart", "/reload", "/reinitialize", "/config"]

    /// The answer to `request`.
    public func respond(to request: RESTRequest) async -> RESTResponse {
        let response = await route(request)
        let route = HealthCheck.paths.contains(request.path) || Self.statePaths.contains(request.path)
            || Self.actionPaths.contains(request.path) ? request.path : "other"
        onAnswer(route, Int(response.status.code))
        if response.status.code >= 400 && response.status.code != 503 {
            logger.info("REST request refused", metadata: [
                "http.method": "\(request.method)", "http.path": "\(request.path)", "http.status": "\(response.status.code)",
                "client": "\(request.remote.map { "\($0)" } ?? "-")",
                "reason": "\(String(decoding: response.body.prefix(200), as: UTF8.self))"])
        }
        return response
    }

    private func route(_ r: RESTRequest) async -> RESTResponse {
        switch r.method {
        case .GET, .HEAD, .OPTIONS:
            if r.path == "/config" && r.method != .OPTIONS { return await config() }
            return get(r)
        case .POST, .PUT, .PATCH, .DELETE:
            if let refusal = accessRefusal(r) { return refusal }
            switch (r.method, r.path) {
            case (.POST, "/switchover"): return await changePrimary(r, kind: .switchover)
            case (.POST, "/failover"): return await changePrimary(r, kind: .failover)
            case (.DELETE, "/switchover"): return await cancelScheduledSwitchover()
            case (.POST, "/restart"): return await restart(r)
            case (.DELETE, "/restart"): return await cancelScheduledRestart()
            case (.POST, "/reload"): return await reload()
            case (.POST, "/reinitialize"): return await reinitialize()
            case (.PATCH, "/config"): return await patchConfig(r, replace: false)
            case (.PUT, "/config"): return await patchConfig(r, replace: true)
            default:
                if Self.actionPaths.contains(r.path) || Self.statePaths.contains(r.path) || HealthCheck.paths.contains(r.path) {
                    return methodNotAllowed(r)
                }
                return .text(.notFound, "no such endpoint: \(r.method) \(r.path)")
            }
        default:
            return methodNotAllowed(r)
        }
    }

    private func methodNotAllowed(_ r: RESTRequest) -> RESTResponse {
        var allowed = ["GET", "HEAD", "OPTIONS"]
        switch r.path {
        case "/switchover": allowed = ["POST", "DELETE"]
        case "/restart": allowed = ["POST", "DELETE"]
        case "/failover", "/reload", "/reinitialize": allowed = ["POST"]
        case "/config": allowed += ["PATCH", "PUT"]
        default: break
        }
        var resp = RESTResponse.text(.methodNotAllowed, "\(r.method) is not allowed on \(r.path) (allowed: \(allowed.joined(separator: ", ")))")
        resp.headers.add(name: "Allow", value: allowed.joined(separator: ", "))
        return resp
    }

    // MARK: Reads

    private func get(_ r: RESTRequest) -> RESTResponse {
        let snapshot = backend.snapshot()
        let lease = backend.leaseValid()
        let now = Instant(.now())
        if let code = HealthCheck.status(path: r.path, query: r.query, snapshot: snapshot, leaseValid: lease, now: now) {
            let status = HTTPResponseStatus(statusCode: code)
            // HEAD gets GET's headers (the channel handler leaves the body out).
            if r.method == .OPTIONS || r.path == "/liveness" || r.path == "/readiness" { return RESTResponse(status: status) }
            guard let snapshot else { return .json(status, ["state": "unknown", "error": "the agent has not completed a cycle yet"]) }
            return .json(status, StatusDocuments.member(snapshot, scope: backend.clusterName, leaseValid: lease, now: now))
        }
        guard Self.statePaths.contains(r.path) else {
            if r.method == .GET && Self.actionPaths.contains(r.path) { return methodNotAllowed(r) }
            return .text(.notFound, "no such endpoint: \(r.method) \(r.path)")
        }
        if r.method == .OPTIONS { return RESTResponse(status: .ok) }
        if r.path == "/metrics" {
            return RESTResponse(status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                                body: Array(backend.metricsText().utf8))
        }
        guard let snapshot else { return .text(.serviceUnavailable, "the agent has not completed a cycle yet") }
        switch r.path {
        case "/patroni": return .json(.ok, StatusDocuments.member(snapshot, scope: backend.clusterName, leaseValid: lease, now: now))
        case "/cluster": return .json(.ok, StatusDocuments.cluster(snapshot, scope: backend.clusterName, leaseValid: lease, now: now))
        default: return .json(.ok, StatusDocuments.history(snapshot.cluster.history))
        }
    }

    /// `GET /config`: the stored document (read through the store, so keys beside pgha's own
    /// settings show too) over every setting's effective value.
    private func config() async -> RESTResponse {
        let stored: VersionedValue?
        do { stored = try await backend.read(.config) } catch {
            return .text(.serviceUnavailable, "the cluster store is not reachable: \(error)")
        }
        let document = stored.flatMap { JSONValue(parsing: $0.value) }
        let config = document.flatMap { try? JSONDecoder().decode(DynamicConfig.self, from: Data($0.bytes)) } ?? DynamicConfig()
        return .json(.ok, Self.effectiveConfig(stored: document, config))
    }

    /// The dynamic configuration as served: every setting with its effective value, plus any
    /// other keys stored.
    static func effectiveConfig(stored: JSONValue?, _ config: DynamicConfig) -> JSONValue {
        JSONValue(encoding: config).merged(with: stored ?? [:])
    }

    // MARK: Access

    /// 403 outside the allowlist, 401 without the right credentials; nil when allowed.
    func accessRefusal(_ r: RESTRequest) -> RESTResponse? {
        if !settings.allowlist.isEmpty || settings.allowlistIncludesMembers {
            guard let remote = r.remote, isAllowed(remote) else { return .text(.forbidden, "Access is denied") }
        }
        guard let user = settings.username, let password = settings.password else { return nil }
        guard let header = r.headers.first(name: "Authorization") else {
            var resp = RESTResponse.text(.unauthorized, "no auth header received")
            resp.headers.add(name: "WWW-Authenticate", value: "Basic realm=\"pgha\"")
            return resp
        }
        let expected = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        guard Self.constantTimeEqual(Array(header.utf8), Array(expected.utf8)) else {
            var resp = RESTResponse.text(.unauthorized, "not authenticated")
            resp.headers.add(name: "WWW-Authenticate", value: "Basic realm=\"pgha\"")
            return resp
        }
        return nil
    }

    private func isAllowed(_ remote: SocketAddress) -> Bool {
        if settings.allowlist.contains(where: { $0.contains(remote) }) { return true }
        guard settings.allowlistIncludesMembers else { return false }
        return backend.memberHosts().compactMap(NetworkRange.init(parsing:)).contains { $0.contains(remote) }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// The request's JSON object body; `optional` bodies may be empty.
    func jsonBody(_ r: RESTRequest, optional: Bool) -> Result<[String: JSONValue], RESTResponse> {
        if r.body.isEmpty {
            return optional ? .success([:]) : .failure(.text(.badRequest, "a JSON object body is required"))
        }
        guard let v = JSONValue(parsing: r.body) else { return .failure(.text(.badRequest, "the body is not valid JSON")) }
        guard let o = v.objectValue else { return .failure(.text(.badRequest, "the body must be a JSON object")) }
        if o.isEmpty && !optional { return .failure(.text(.badRequest, "the body must not be an empty object")) }
        return .success(o)
    }
}
