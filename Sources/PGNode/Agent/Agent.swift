import Foundation
import HACore
import Logging
import NIOCore
import RaftCore

/// The HA agent of one member: the loop that observes the local Postgres, reads the cluster
/// from the store, asks the pure decision (`HANode`) what to do and does it (`Agent+Execute`),
/// and reports the member's status into the store on a period.
///
/// The loop runs every `ha.loop_ms` and at once on every Raft role change; one cycle at a time
/// (a base backup holds the loop; the lease fence and the reports run on their own). All
/// blocking work happens inside `PostgresController` on its thread pool, never on the
/// cooperative pool; the Raft runtime runs on an event loop of its own, so nothing here can
/// delay a heartbeat. The one-writer rule does not depend on this loop being prompt: the
/// `LeaseFence` timer stops a primary whose lease lapsed, and the fence guard process stops it
/// if this whole process is frozen.
public actor Agent {
    public let config: AgentConfig
    let runtime: RaftRuntime
    let client: StoreClient
    let postgres: PostgresController
    let fence: LeaseFence
    let logger: Logger

    var ha = HANode()
    /// The newest observation of the local Postgres.
    var lastLocal: LocalPostgres?
    var lastView = ClusterView()
    var statusRound: StatusRound?
    /// A long action under way (reported as the member's state).
    var activity: PostgresRunState?
    var lastWait: String?
    var lastRefusal: String?
    var lastReported: MemberStatus?
    var lastReportAt: Instant?
    var reportInFlight = false
    var primaryPositionReportedAt: Instant?
    /// A rebuild set the old data directory aside; remove it once the new one streams.
    var setAsidePending = false
    var stopping = false
    var runAgain = false
    /// The postmaster was last started as a primary (bootstrap, restart in place).
    var startedAsPrimary = false
    /// Quick lease re-checks made in a term (see `cycle`).
    var leaseRechecks: (term: UInt64, count: Int) = (0, 0)
    /// Counters for status and tests.
    public internal(set) var counters = AgentCounters()
    /// The snapshot of the last cycle, for the REST API and metrics.
    public nonisolated let snapshots = AgentSnapshotBox()
    /// Local operations asked for over the REST API, run at the start of the next cycle.
    var pendingOperations: [(LocalOperation, CheckedContinuation<LocalOperationResult, Never>)] = []
    /// A restart asked for over the REST API with `schedule` (wall clock, Unix milliseconds).
    var scheduledRestart: ScheduledRestart?
    /// The user's callback scripts.
    let callbacks: CallbackRunner
    /// The role of the running Postgres at the last cycle ("primary", "replica"), for `on_role_change`.
    var lastRunningRole: String?
    /// What the last decision waited for, reported in the member key.
    var waitingFor: String?
    var lastSyncWarning: String?
    /// The scheduled restart was looked for in this member's last report (once, at start).
    var scheduleRestored = false

    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    public init(config: AgentConfig, runtime: RaftRuntime, client: StoreClient, postgres: PostgresController,
                fence: LeaseFence, logger: Logger) {
        self.config = config
        self.runtime = runtime
        self.client = client
        self.postgres = postgres
        self.fence = fence
        self.logger = logger
        self.callbacks = CallbackRunner(settings: config.postgres.callbacks, cluster: config.store.cluster, logger: logger)
        (wakeStream, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs a decision cycle soon (a role change, a fence). Callable from any thread.
    public nonisolated func wake() { wakeContinuation.yield() }

    /// Runs the HA loop until `stop()`.
    public func run() async {
        await runtime.observeRoles { [weak self] _ in self?.wake() }
        let interval = Duration.milliseconds(config.ha.loopMilliseconds)
        let continuation = wakeContinuation
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield()
            }
        }
        defer { ticker.cancel() }
        logger.info("HA loop started", metadata: ["member": "\(config.name)"])
        for await _ in wakeStream {
            if stopping { break }
            repeat {
                runAgain = false
                await cycle()
            } while runAgain && !stopping
        }
    }

    /// Stops the loop and Postgres cleanly: a primary stops with a shutdown checkpoint while it
    /// still holds the lease, then hands Raft leadership to the best replica.
    public func stop() async {
        guard !stopping else { return }
        stopping = true
        wakeContinuation.finish()
        let wasPrimary = lastLocal?.isRunningPrimary == true
        logger.notice("stopping Postgres", metadata: ["member": "\(config.name)", "postgres.primary": "\(wasPrimary)"])
        await postgres.stop(.fast, timeout: .seconds(60))
        callbacks.fire(.onStop, role: wasPrimary ? "primary" : "replica")
        await fence.disarm()
        guard wasPrimary, let status = await runtime.status(), status.role == .leader else { return }
        let placement = Placement(statuses: lastView.members.values.filter { $0.name != config.name }, cluster: lastView)
        if let best = placement.best {
            logger.notice("handing leadership to the best replica before stopping", metadata: ["to": "\(best.name)"])
            try? await runtime.transferLeadership(to: NodeID(best.raftID))
            for _ in 0..<40 {
                if let s = await runtime.status(), s.role != .leader { break }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// This member's fresh status as JSON, for a new leader's status round: observes Postgres
    /// now rather than answering from the last report.
    public func freshStatusJSON() async -> [UInt8]? {
        let local = await postgres.observe()
        return ClusterState.encode(memberStatus(from: local))
    }

    // MARK: The cycle

    /// The local Postgres now, with what only the agent knows added.
    func observe() async -> LocalPostgres {
        var local = await postgres.observe()
        local.startedAsPrimary = startedAsPrimary
        return local
    }

    func cycle() async {
        await runPendingOperations()
        await runScheduledRestart()
        let local = await observe()
        lastLocal = local
        guard let status = await runtime.status() else { return }
        let lease = await runtime.leaderLease()
        // A leader reads linearizably: the read waits until an entry of its term is committed,
        // so a new leader never decides on a copy that lacks an earlier leader's last writes
        // (a stale `sync` key let the HA simulator promote a member that was not in sync). A
        // leader that cannot read decides nothing this time; a follower's local copy is enough
        // for what it decides.
        let linearizable = status.role == .leader
        do {
            let (_, items) = try await runtime.list(prefix: "", linearizable: linearizable)
            let (view, problems) = ClusterState.view(from: items)
            lastView = view
            // At the first read with a leader known (this copy of the store then holds the
            // member's report from before the restart), take back a schedule from it.
            if status.leader != nil { restoreScheduledRestart(from: view) }
            for p in problems { logger.warning("unreadable store key", metadata: ["problem": "\(p)"]) }
        } catch {
            if linearizable {
                logger.info("leader: the store read did not complete; deciding on the next cycle", metadata: ["error": "\(error)"])
                return
            }
        }
        var voters: [UInt64: String] = [:]
        for v in status.membership.voters { voters[v.rawValue] = config.memberNames[v] ?? "node\(v.rawValue)" }
        let raft = RaftView(isLeader: status.role == .leader, term: status.term.rawValue,
                            leader: status.leader.map { config.memberNames[$0] ?? "node\($0.rawValue)" },
                            leaseDeadline: lease.map { Instant($0.deadline) }, voters: voters)
        let input = HAInput(now: Instant(.now()), me: config.name, tags: config.tags, raft: raft, cluster: lastView,
                            local: local, statusRound: statusRound,
                            wallClockUnixMs: UInt64(Date().timeIntervalSince1970 * 1000))
        // Keep the fence in step with what runs (a primary found running under our lease is
        // guarded; anything else needs no fence).
        if local.isRunningPrimary && input.holdsLease {
            _ = await fence.arm(pid: postgres.postmasterPID)
        } else if !local.isRunningPrimary {
            await fence.disarm()
        }
        if setAsidePending, local.running?.streaming == true {
            setAsidePending = false
            let removed = await postgres.removeSetAsideDirectories()
            if !removed.isEmpty { logger.notice("removed the data directory set aside by the rebuild", metadata: ["paths": "\(removed)"]) }
        }
        if raft.isLeader && !input.holdsLease {
            // A new leader's lease follows its first quorum-acknowledged heartbeat round, a few
            // milliseconds away: look again then rather than a whole loop period later (a few
            // times per term, so a leader that cannot renew does not spin the loop).
            if leaseRechecks.term != raft.term { leaseRechecks = (raft.term, 0) }
            if leaseRechecks.count < 10 {
                leaseRechecks.count += 1
                let agent = self
                Task { try? await Task.sleep(for: .milliseconds(10)); agent.wake() }
            }
        }
        await applyRuntimeConfiguration(local, lastView)
        noteRoleChange(local)
        let actions = ha.decide(input)
        waitingFor = actions.lazy.compactMap { if case .wait(let r) = $0 { return r }; return nil }.first
        for action in actions {
            if stopping { return }
            guard await execute(action, input) else { break }
        }
        let after = actions.contains(where: \.changesPostgres) ? await observe() : local
        report(local: after, raft: raft)
        snapshots.publish(AgentSnapshot(
            member: memberStatus(from: after), local: after, raft: raft, commitIndex: status.commit.rawValue,
            appliedIndex: status.applied.rawValue, cluster: lastView, at: Instant(.now()),
            atUnixMs: UInt64(Date().timeIntervalSince1970 * 1000),
            waitingFor: waitingFor, counters: counters))
    }

    /// Brings the store's Postgres parameters (for this member's role) into the configuration
    /// (a reload when they changed), and, while this Postgres is not a running primary, renders
    /// `synchronous_standby_names` as a primary must start with: in synchronous modes
    /// `SynchronousStandbyNames.none`, so that a promotion or a restart in place acknowledges
    /// no commit before the primary has named its synchronous standbys (a standby ignores it).
    func applyRuntimeConfiguration(_ local: LocalPostgres, _ view: ClusterView) async {
        let primary = local.isRunningPrimary
        do {
            if try await postgres.setDynamicParameters(view.config.postgresql.effective(primary: primary, local: [:])) {
                logger.notice("applied the cluster's Postgres parameters", metadata: ["postgres.role": "\(primary ? "primary" : "replica")"])
                if local.process == .running { callbacks.fire(.onReload, role: primary ? "primary" : "replica") }
            }
            if !primary {
                try await postgres.setSynchronousStandbyNames(view.config.synchronousMode == .off ? "" : SynchronousStandbyNames.none)
            }
        } catch {
            logger.warning("could not apply the Postgres configuration", metadata: ["error": "\(error)"])
        }
    }

    /// Runs `on_role_change` when the running Postgres changed between primary and replica.
    private func noteRoleChange(_ local: LocalPostgres) {
        guard let r = local.running, local.process == .running else { return }
        let role = r.inRecovery ? "replica" : "primary"
        if let last = lastRunningRole, last != role { callbacks.fire(.onRoleChange, role: role) }
        lastRunningRole = role
    }

    // MARK: Reports

    /// The member status that `local` implies.
    func memberStatus(from local: LocalPostgres) -> MemberStatus {
        let r = local.running
        var status = MemberStatus(
            observing: local, name: config.name, raftID: config.store.node.rawValue, host: config.postgres.connectHost,
            port: config.postgres.connectPort, tags: config.tags, activity: activity,
            reportedAtUnixMs: UInt64(Date().timeIntervalSince1970 * 1000), apiURL: config.rest.connectURL)
        if let r, !r.pendingRestart.isEmpty {
            let runtime = postgres.runtimeConfiguration
            let wanted = runtime.dynamicParameters.merging(config.postgres.parameters) { $1 }
            status.pendingRestart = Dictionary(uniqueKeysWithValues: r.pendingRestart.map { name, running in
                (name, wanted[name].map { "\(running) -> \($0)" } ?? "runs with \(running); the file differs")
            })
        }
        status.waitingFor = waitingFor
        if let r, !r.inRecovery, local.process == .running {
            status.synchronousStandbyNames = r.synchronousStandbyNames
            status.syncWarning = Self.syncWarning(r)
        }
        status.scheduledRestartAtMs = scheduledRestart?.atUnixMs
        status.scheduledRestartRole = scheduledRestart?.role
        status.promotionRefused = ha.promotionRefusal(at: Instant(.now()))
        return status
    }

    /// Why a running primary's commits do not return now, if they do not: its
    /// `synchronous_standby_names` names standbys and none of them is synchronous.
    static func syncWarning(_ r: RunningPostgres) -> String? {
        guard !r.synchronousStandbyNames.isEmpty,
              !r.replication.contains(where: { $0.syncState == "sync" || $0.syncState == "quorum" }) else { return nil }
        return "commits wait: no synchronous standby is streaming (synchronous_standby_names = \(r.synchronousStandbyNames))"
    }

    /// Writes `members/<name>` when the role, state, timeline or upstream changed, else every
    /// `ha.report_ms`; the leader's primary also records its WAL position (`status`). Runs in
    /// the background, one report at a time, so a store without a leader never holds the loop.
    func report(local: LocalPostgres, raft: RaftView) {
        let now = Instant(.now())
        let status = memberStatus(from: local)
        if status.syncWarning != lastSyncWarning {
            if let w = status.syncWarning { logger.warning("synchronous replication", metadata: ["warning": "\(w)"]) } else if lastSyncWarning != nil {
                logger.notice("synchronous replication: commits are acknowledged again")
            }
            lastSyncWarning = status.syncWarning
        }
        let changed = lastReported.map { !$0.sameShape(as: status) } ?? true
        let due = lastReportAt.map { now.milliseconds(since: $0) >= UInt64(config.ha.reportMilliseconds) } ?? true
        // Not before the last report was read back (it may hold a scheduled restart).
        guard (changed || due) && !reportInFlight && scheduleRestored else { return }
        reportInFlight = true
        lastReportAt = now
        let client = self.client, key = ClusterKey.member(config.name).path
        var position: PrimaryPosition?
        if raft.isLeader, local.isRunningPrimary, let lsn = local.running?.walPosition, let tl = local.running?.timeline {
            position = PrimaryPosition(lsn: lsn, timeline: tl, member: config.name)
        }
        Task {
            var ok = true
            do { _ = try await client.put(key, ClusterState.encode(status)) } catch {
                ok = false
                self.logger.debug("member report not written", metadata: ["error": "\(error)"])
            }
            if let position {
                _ = try? await client.put(ClusterKey.status.path, ClusterState.encode(position))
            }
            self.reportDone(status, ok: ok)
        }
    }

    private func reportDone(_ status: MemberStatus, ok: Bool) {
        reportInFlight = false
        if ok { lastReported = status } else { lastReportAt = nil }
    }
}

/// What an agent did since start.
public struct AgentCounters: Sendable, Hashable {
    public var promotions = 0
    public var fences = 0
    public var rewinds = 0
    public var rebuilds = 0
    public var restarts = 0
    public var transfers = 0
    public var failovers = 0
    public var switchovers = 0
}

extension HAAction {
    /// Whether the action changes what the local Postgres is or runs.
    var changesPostgres: Bool {
        switch self {
        case .setMayCampaign, .gatherStatus, .transferLeadership, .syncSlots, .refuse, .wait, .clearFailover, .writeSync: return false
        default: return true
        }
    }
}

extension Instant {
    /// The instant of `deadline` on the same monotonic clock, in milliseconds.
    public init(_ deadline: NIODeadline) {
        self.init(milliseconds: deadline.uptimeNanoseconds / 1_000_000)
    }
}
