import Foundation
import HACore
import NIOHTTP1
import RaftCore

extension RESTAPI {
    // MARK: Switchover and failover

    /// `POST /switchover` and `POST /failover`: Patroni's validation order, messages and codes;
    /// an immediate request waits for its outcome (200 or 503), a scheduled one answers 202.
    func changePrimary(_ r: RESTRequest, kind requested: FailoverRequest.Kind) async -> RESTResponse {
        let body: [String: JSONValue]
        switch jsonBody(r, optional: false) {
        case .success(let b): body = b
        case .failure(let resp): return resp
        }
        for key in body.keys where !["leader", "candidate", "member", "scheduled_at", "force"].contains(key) {
            return .text(.badRequest, "unknown field \(key) (known: leader, candidate, scheduled_at, force)")
        }
        var force = false
        if let f = body["force"], f != .null {
            guard let b = f.boolValue else { return .text(.badRequest, "force must be true or false") }
            force = b
        }
        func name(_ key: String) -> Result<String?, RESTResponse> {
            guard let v = body[key], v != .null else { return .success(nil) }
            guard let s = v.stringValue, !s.isEmpty else { return .failure(.text(.badRequest, "\(key) must be a member name")) }
            return .success(s)
        }
        var leader: String?, candidate: String?
        switch (name("leader"), name("candidate"), name("member")) {
        case (.failure(let e), _, _), (_, .failure(let e), _), (_, _, .failure(let e)): return e
        case (.success(let l), .success(let c), .success(let m)): leader = l; candidate = c ?? m
        }
        var kind = requested
        if kind == .failover && candidate == nil { return .text(.badRequest, "Failover could be performed only to a specific candidate") }
        if kind == .switchover && leader == nil { return .text(.badRequest, "Switchover could be performed only from a specific leader") }
        let snapshot = backend.snapshot()
        let paused = snapshot?.cluster.config.pause ?? false
        var scheduledAt: UInt64?
        if let v = body["scheduled_at"], v != .null {
            if kind == .failover { return .text(.badRequest, "Failover can't be scheduled") }
            if paused { return .text(.badRequest, "Can't schedule switchover in the paused state") }
            switch scheduleTime(v, key: "scheduled_at", of: "switchover") {
            case .failure(let refusal): return refusal
            case .success(let ms): scheduledAt = ms
            }
        }
        if paused && candidate == nil { return .text(.badRequest, "Switchover is possible only to a specific candidate in a paused state") }
        if kind == .failover && leader != nil { kind = .switchover }
        if force && kind != .failover { return .text(.badRequest, "force applies to a failover (POST /failover with a candidate) only") }
        if let leader, leader == candidate { return .text(.badRequest, "Switchover target and source are the same") }
        if scheduledAt == nil, let problem = feasibility(kind: kind, leader: leader, candidate: candidate, force: force, snapshot) {
            return .text(.preconditionFailed, problem)
        }
        // What a forced failover may lose: the candidate's distance from the last primary position.
        var mayLose: UInt64 = 0
        if force, let c = candidate, let s = snapshot, let m = s.cluster.members[c] { mayLose = Placement.bytesBehind(m, s.cluster) }
        // One request at a time.
        let existing: VersionedValue?
        do { existing = try await backend.read(.failover) } catch {
            return .text(.serviceUnavailable, "the cluster store is not reachable: \(error)")
        }
        if existing != nil { return .text(.conflict, "another switchover or failover is pending (pgha flush switchover cancels a scheduled one)") }
        let request = FailoverRequest(kind: kind, leader: leader, candidate: candidate, scheduledAtUnixMs: scheduledAt,
                                      id: UUID().uuidString, requestedAtUnixMs: nowUnixMs(), force: force)
        do { try await backend.write(.failover, ClusterState.encode(request), expectedRevision: 0) } catch {
            return .text(.serviceUnavailable, "failed to write failover key into the store: \(error)")
        }
        logger.notice("\(kind.rawValue) requested over the REST API", metadata: [
            "leader": "\(leader ?? "-")", "candidate": "\(candidate ?? "best")", "scheduled_at_ms": "\(scheduledAt.map(String.init) ?? "now")"])
        if force {
            logger.warning("forced failover: the candidate may lack acknowledged writes", metadata: [
                "candidate": "\(candidate ?? "-")", "may_lose_bytes": "\(mayLose)"])
        }
        if scheduledAt != nil { return .text(.accepted, "Switchover scheduled") }
        var answer = await outcome(of: request, previousPrimary: snapshot?.raft.leader)
        if force, answer.status == .ok {
            answer = .text(.ok, String(decoding: answer.body, as: UTF8.self)
                           + " (forced: up to \(mayLose) bytes of WAL beyond the candidate's position may be lost)")
        }
        return answer
    }

    /// Patroni's `is_failover_possible`: nil when the change can be attempted, else the reason (412).
    private func feasibility(kind: FailoverRequest.Kind, leader: String?, candidate: String?, force: Bool,
                             _ s: AgentSnapshot?) -> String? {
        guard let s else { return "this agent has no view of the cluster yet" }
        let current = s.raft.leader
        if let leader, leader != current || s.cluster.members[leader]?.role != .primary { return "leader name does not match" }
        let others = s.cluster.members.values.filter { $0.name != current }
        let primaryRuns = current.flatMap { s.cluster.members[$0] }.map { $0.role == .primary && $0.state == .running } ?? false
        let placement = Placement(statuses: Array(others), cluster: s.cluster,
                                  rules: .forRequest(kind: kind, force: force, primaryRuns: primaryRuns))
        if let candidate {
            guard s.cluster.members[candidate] != nil || s.cluster.staleMembers[candidate] != nil else { return "candidate does not exists" }
            if let why = placement.excluded[candidate] {
                let lossRule = Placement(statuses: s.cluster.members[candidate].map { [$0] } ?? [], cluster: s.cluster, rules: .forced)
                if kind == .failover, lossRule.qualifies(candidate), let m = s.cluster.members[candidate] {
                    return "candidate \(candidate) cannot be promoted: \(why); force the failover to promote it anyway, "
                        + "losing up to \(Placement.bytesBehind(m, s.cluster)) bytes of acknowledged WAL"
                }
                return "candidate \(candidate) cannot be promoted: \(why)"
            }
            if s.cluster.members[candidate] == nil { return "candidate \(candidate) has not reported recently" }
            return nil
        }
        if others.isEmpty { return "\(kind.rawValue) is not possible: cluster does not have members except leader" }
        if placement.best == nil { return "\(kind.rawValue) is not possible: no good candidates have been found" }
        return nil
    }

    /// Waits until the request is carried out or dropped.
    private func outcome(of request: FailoverRequest, previousPrimary: String?) async -> RESTResponse {
        let deadline = ContinuousClock.now + switchoverWait
        let verb = request.kind == .switchover ? "switched over" : "failed over"
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            let pending: VersionedValue?
            do { pending = try await backend.read(.failover) } catch { continue }
            if let pending, let p = try? JSONDecoder().decode(FailoverRequest.self, from: Data(pending.value)), p.id == request.id { continue }
            // The request is gone: it was carried out (a history row names the new primary) or dropped.
            guard let h = try? await backend.read(.history),
                  let rows = try? JSONDecoder().decode([HistoryRow].self, from: Data(h.value)),
                  let last = rows.last, last.atUnixMs >= request.requestedAtUnixMs,
                  HANode.requestedPromotionReasons.contains(last.reason) else {
                return .text(.serviceUnavailable, "Switchover failed")
            }
            if let c = request.candidate, c != last.newPrimary {
                return .text(.ok, "Switched over to \"\(last.newPrimary)\" instead of \"\(c)\"")
            }
            return .text(.ok, "Successfully \(verb) to \"\(last.newPrimary)\"")
        }
        return .text(.serviceUnavailable, "Switchover status unknown after \(Double(switchoverWait.milliseconds) / 1000) s; operation may still be in progress")
    }

    /// `DELETE /switchover`: cancels a scheduled switchover.
    func cancelScheduledSwitchover() async -> RESTResponse {
        let read: VersionedValue?
        do { read = try await backend.read(.failover) } catch {
            return .text(.serviceUnavailable, "the cluster store is not reachable: \(error)")
        }
        do {
            guard let current = read,
                  let request = try? JSONDecoder().decode(FailoverRequest.self, from: Data(current.value)),
                  request.scheduledAtUnixMs != nil else {
                return .text(.notFound, "no switchover is scheduled")
            }
            try await backend.delete(.failover, expectedRevision: current.modRevision)
            return .text(.ok, "scheduled switchover deleted")
        } catch {
            return .text(.conflict, "the scheduled switchover changed meanwhile or the store is not reachable: \(error)")
        }
    }

    // MARK: Local operations

    /// `POST /restart`: restarts this member's Postgres in its role (filters: `role`).
    func restart(_ r: RESTRequest) async -> RESTResponse {
        let body: [String: JSONValue]
        switch jsonBody(r, optional: true) {
        case .success(let b): body = b
        case .failure(let resp): return resp
        }
        var scheduled: UInt64?
        for (key, value) in body {
            switch key {
            case "role":
                guard let role = value.stringValue, ["primary", "replica", "standby_leader"].contains(role) else {
                    return .text(.badRequest, "PostgreSQL role should be either primary, standby_leader, or replica")
                }
                let current = backend.snapshot()?.member.role.rawValue
                if body["schedule"] == nil, role != current { return .text(.serviceUnavailable, "restart conditions are not satisfied") }
            case "schedule":
                switch scheduleTime(value, key: "schedule", of: "restart") {
                case .failure(let refusal): return refusal
                case .success(let ms): scheduled = ms
                }
            default:
                return .text(.badRequest, "Unknown filter for the scheduled restart: \(key)")
            }
        }
        if let scheduled {
            let role = body["role"]?.stringValue
            guard await backend.scheduleRestart(ScheduledRestart(atUnixMs: scheduled, role: role)) else {
                return .text(.conflict, "Another restart is already scheduled (DELETE /restart cancels it)")
            }
            return .text(.accepted, "Restart scheduled")
        }
        let result = await backend.perform(.restart)
        return .text(result.done ? .ok : .serviceUnavailable, result.done ? "restarted successfully" : result.message)
    }

    /// `DELETE /restart`: cancels a scheduled restart.
    func cancelScheduledRestart() async -> RESTResponse {
        await backend.cancelScheduledRestart() ? .text(.ok, "scheduled restart deleted") : .text(.notFound, "no restart is scheduled")
    }

    /// `POST /reload`: reloads the Postgres configuration (202, as Patroni).
    func reload() async -> RESTResponse {
        let backend = self.backend
        Task { _ = await backend.perform(.reload) }
        return .text(.accepted, "reload scheduled")
    }

    /// `POST /reinitialize`: rebuilds this replica from the primary (started; 200).
    func reinitialize() async -> RESTResponse {
        guard let s = backend.snapshot() else { return .text(.serviceUnavailable, "the agent has not completed a cycle yet") }
        guard let leader = s.raft.leader else { return .text(.serviceUnavailable, "Cluster has no leader, can not reinitialize") }
        if leader == backend.memberName || s.local.isRunningPrimary {
            return .text(.serviceUnavailable, "I am the leader, can not reinitialize")
        }
        let backend = self.backend
        Task { _ = await backend.perform(.reinitialize) }
        return .text(.ok, "reinitialize started")
    }

    // MARK: Dynamic configuration

    /// `PATCH /config` (merge patch) and `PUT /config` (replace): the result must decode as
    /// the dynamic configuration (wrong types are refused with 400); written with
    /// compare-and-set (409 when it changed meanwhile). Answers the new configuration.
    func patchConfig(_ r: RESTRequest, replace: Bool) async -> RESTResponse {
        guard let patch = JSONValue(parsing: r.body), case .object = patch else {
            return .text(.badRequest, r.body.isEmpty ? "a JSON object body is required" : "the body must be a JSON object")
        }
        let current: VersionedValue?
        do { current = try await backend.read(.config) } catch {
            return .text(.serviceUnavailable, "the cluster store is not reachable: \(error)")
        }
        let stored = current.flatMap { JSONValue(parsing: $0.value) } ?? [:]
        let next = replace ? patch : stored.merged(with: patch)
        let config: DynamicConfig
        do { config = try JSONDecoder().decode(DynamicConfig.self, from: Data(next.bytes)) } catch {
            return .text(.badRequest, "invalid configuration: \(Self.describe(error))")
        }
        if let reserved = config.postgresql.reservedNames.first {
            return .text(.badRequest, "invalid configuration: postgresql.\(reserved) is set by pgha itself and may not be configured")
        }
        if next == stored { return .json(.ok, Self.effectiveConfig(stored: next, config)) }
        do { try await backend.write(.config, next.bytes, expectedRevision: current?.modRevision ?? 0) } catch {
            return .text(.conflict, "the configuration changed meanwhile or the store refused the write: \(error)")
        }
        logger.notice("dynamic configuration changed over the REST API", metadata: ["config": "\(String(decoding: next.bytes, as: UTF8.self))"])
        return .json(.ok, Self.effectiveConfig(stored: next, config))
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .typeMismatch(let t, let c)?: return "\(c.codingPath.map(\.stringValue).joined(separator: ".")) must be \(t)"
        case .dataCorrupted(let c)?: return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case .valueNotFound(let t, let c)?: return "\(c.codingPath.map(\.stringValue).joined(separator: ".")) must be \(t), not null"
        default: return "\(error)"
        }
    }

    func nowUnixMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    /// A schedule (`scheduled_at` of a switchover, `schedule` of a restart) as Unix
    /// milliseconds, or Patroni's refusal: 400 without a time zone, 422 unparsable or past.
    func scheduleTime(_ value: JSONValue, key: String, of what: String) -> Result<UInt64, RESTResponse> {
        guard let text = value.stringValue else { return .failure(.text(.badRequest, "\(key) must be a time (ISO 8601)")) }
        switch StatusDocuments.parseSchedule(text) {
        case .failure(.noTimeZone): return .failure(.text(.badRequest, "Timezone information is mandatory for the scheduled \(what)"))
        case .failure(.unparsable):
            return .failure(.text(.unprocessableEntity, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"))
        case .success(let ms):
            if ms < nowUnixMs() { return .failure(.text(.unprocessableEntity, "Cannot schedule \(what) in the past")) }
            return .success(ms)
        }
    }
}
