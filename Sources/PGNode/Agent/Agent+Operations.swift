import Foundation
import HACore
import Logging
import RaftCore

/// A change to this member's Postgres that an operator asked for (`POST /restart`,
/// `/reinitialize`, `/reload`). The agent runs it at the start of its next cycle, so it never
/// interleaves with a decision.
public enum LocalOperation: Sendable, Hashable {
    /// Stop cleanly and start again in the same role (a primary only while it holds the lease).
    case restart
    /// Replace this replica's data with a fresh base backup from the primary.
    case reinitialize
    /// Reload the Postgres configuration (`pg_reload_conf()`).
    case reload
}

/// How a `LocalOperation` went.
public struct LocalOperationResult: Sendable, Hashable {
    /// Whether it was carried out.
    public var done: Bool
    /// What happened, for the API's answer.
    public var message: String
}

extension Agent {
    /// Queues `operation` for the next cycle and waits for its result.
    public func perform(_ operation: LocalOperation) async -> LocalOperationResult {
        await withCheckedContinuation { continuation in
            pendingOperations.append((operation, continuation))
            wake()
        }
    }

    func runPendingOperations() async {
        while !pendingOperations.isEmpty {
            let (operation, continuation) = pendingOperations.removeFirst()
            continuation.resume(returning: await run(operation))
        }
    }

    private func run(_ operation: LocalOperation) async -> LocalOperationResult {
        let local = await observe()
        guard let status = await runtime.status() else { return LocalOperationResult(done: false, message: "the agent is stopping") }
        let lease = await runtime.leaderLease()
        let leader = status.leader.map { config.memberNames[$0] ?? "node\($0.rawValue)" }
        switch operation {
        case .reload:
            guard local.process == .running else { return LocalOperationResult(done: false, message: "Postgres is not running") }
            do {
                _ = try await postgres.query("select pg_reload_conf()")
                logger.notice("reloaded the Postgres configuration (asked over the REST API)")
                callbacks.fire(.onReload, role: local.isRunningPrimary ? "primary" : "replica")
                return LocalOperationResult(done: true, message: "reloaded")
            } catch {
                return LocalOperationResult(done: false, message: "reload failed: \(error)")
            }

        case .restart:
            logger.notice("restarting Postgres (asked over the REST API)")
            if local.isRunningPrimary {
                guard status.role == .leader, let lease, lease.isValid() else {
                    return LocalOperationResult(done: false, message: "this primary does not hold the lease")
                }
                await postgres.stop(.fast, timeout: .seconds(60))
                await fence.disarm()
                let ok = await execute(.startPrimary, operationInput(isLeader: true, status, leader, await observe()))
                if ok { callbacks.fire(.onRestart, role: "primary") }
                return LocalOperationResult(done: ok, message: ok ? "restarted successfully" : "restart failed")
            }
            guard local.isRunningReplica || local.process == .stopped else {
                return LocalOperationResult(done: false, message: "Postgres is neither a running primary nor a replica")
            }
            if case .initialized(let c) = local.dataDirectory, c.lastRanAsPrimary, !local.isRunningReplica {
                return LocalOperationResult(done: false, message: "a former primary rejoins through the HA loop (pg_rewind)")
            }
            await postgres.stop(.fast, timeout: .seconds(60))
            let following = leader.flatMap { $0 == config.name ? nil : $0 }
            let ok = await execute(.startReplica(following: following), operationInput(isLeader: false, status, leader, await observe()))
            if ok { callbacks.fire(.onRestart, role: "replica") }
            return LocalOperationResult(done: ok, message: ok ? "restarted successfully" : "restart failed")

        case .reinitialize:
            guard status.role != .leader, !local.isRunningPrimary else {
                return LocalOperationResult(done: false, message: "I am the leader, can not reinitialize")
            }
            guard let leader, lastView.members[leader]?.role == .primary else {
                return LocalOperationResult(done: false, message: "no running primary to take a base backup from")
            }
            // A running member tagged `clonefrom` serves the base backup when there is one.
            let source = HANode.cloneSource(in: lastView, me: config.name, leader: leader)
            logger.notice("reinitializing this member (asked over the REST API)", metadata: ["source": "\(source)"])
            let ok = await execute(.rebuild(from: source), operationInput(isLeader: false, status, leader, local))
            return LocalOperationResult(done: ok, message: ok ? "reinitialized from \(source)" : "reinitialize failed; see the agent's log")
        }
    }

    /// The snapshot an operation's action runs with (the executor reads the cluster view and
    /// the term from it; the action itself checks the lease where it needs one).
    private func operationInput(isLeader: Bool, _ status: RaftStatus, _ leader: String?, _ local: LocalPostgres) -> HAInput {
        HAInput(now: Instant(.now()), me: config.name, raft: RaftView(isLeader: isLeader, term: status.term.rawValue,
                leader: leader, leaseDeadline: nil, voters: [:]), cluster: lastView, local: local)
    }
}

/// A restart of this member's Postgres scheduled over the REST API (`POST /restart` with
/// `schedule`), cancelled by `DELETE /restart`. The agent keeps it and reports it in its member
/// key, from which it takes it back after an agent restart.
public struct ScheduledRestart: Sendable, Hashable {
    /// Wall-clock time, Unix milliseconds.
    public var atUnixMs: UInt64
    /// Only if the member then has this role ("primary" or "replica"), when set.
    public var role: String?
}

extension Agent {
    /// Schedules a restart at `atUnixMs` (replacing none: a second schedule is refused).
    public func scheduleRestart(_ restart: ScheduledRestart) -> Bool {
        guard scheduledRestart == nil else { return false }
        scheduledRestart = restart
        logger.notice("restart scheduled", metadata: ["at_ms": "\(restart.atUnixMs)", "role": "\(restart.role ?? "any")"])
        return true
    }

    /// Cancels a scheduled restart; false if none was scheduled.
    public func cancelScheduledRestart() -> Bool {
        guard scheduledRestart != nil else { return false }
        scheduledRestart = nil
        logger.notice("scheduled restart cancelled")
        return true
    }

    /// The scheduled restart, if any.
    public func pendingScheduledRestart() -> ScheduledRestart? { scheduledRestart }

    /// At the first store read after start: takes back a restart this member had scheduled
    /// before its agent stopped (its last report still names it).
    func restoreScheduledRestart(from view: ClusterView) {
        guard !scheduleRestored else { return }
        scheduleRestored = true
        guard scheduledRestart == nil, let m = view.members[config.name] ?? view.staleMembers[config.name],
              let at = m.scheduledRestartAtMs else { return }
        guard at > UInt64(Date().timeIntervalSince1970 * 1000) else {
            logger.warning("a restart scheduled before the agent stopped fell due meanwhile; it is not run (schedule it again)",
                           metadata: ["at_ms": "\(at)"])
            return
        }
        scheduledRestart = ScheduledRestart(atUnixMs: at, role: m.scheduledRestartRole)
        logger.notice("restart scheduled before the agent stopped is still scheduled", metadata: [
            "at_ms": "\(at)", "role": "\(m.scheduledRestartRole ?? "any")"])
    }

    /// Runs the scheduled restart once it is due (skipped if the role no longer matches).
    func runScheduledRestart() async {
        guard let due = scheduledRestart, UInt64(Date().timeIntervalSince1970 * 1000) >= due.atUnixMs else { return }
        scheduledRestart = nil
        if let role = due.role {
            let local = await observe()
            let now = local.isRunningPrimary ? "primary" : "replica"
            guard role == now else {
                logger.notice("scheduled restart skipped: the member's role changed", metadata: ["wanted": "\(role)", "role": "\(now)"])
                return
            }
        }
        let result = await run(.restart)
        logger.notice("scheduled restart", metadata: ["done": "\(result.done)", "message": "\(result.message)"])
    }
}
