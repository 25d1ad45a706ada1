import ClusterStore
import HACore
import RaftCore

/// The agent's HA loop (`Agent.cycle`) and executor (`Agent+Execute`), driving the Postgres
/// model: the same observation, the same decision (`HANode`), and each action's steps with the
/// same checks — the lease is checked by arming the fence right before a promotion or a start
/// as primary — and the same waits (a promotion, a start, a store write hold the loop).
extension HASimulation {
    /// Runs a decision cycle soon (the loop's period, a role change, a fence, `runAgain`).
    mutating func wake(_ h: Int) {
        guard hosts[h].raft != nil else { return }
        if hosts[h].cycleRunning {
            hosts[h].wakePending = true
            return
        }
        hosts[h].cycleRunning = true
        queue.push(.cycle(h, epoch: hosts[h].agentEpoch), at: time + 1)
    }

    func observe(_ h: Int) -> LocalPostgres {
        hosts[h].pg.observe(me: h, names: names, startedAsPrimary: hosts[h].startedAsPrimary,
                            now: hosts[h].instant(time), time: time)
    }

    /// This member's status as its report and its status-round answer give it.
    func observedStatus(_ h: Int) -> MemberStatus {
        let local = observe(h)
        var status = MemberStatus(observing: local, name: hostName(h), raftID: UInt64(h + 1), host: hostName(h), port: 5432,
                                  tags: hosts[h].tags, activity: hosts[h].activity,
                                  reportedAtUnixMs: hosts[h].wallClock(time))
        if let r = local.running, !r.inRecovery { status.synchronousStandbyNames = r.synchronousStandbyNames }
        status.promotionRefused = hosts[h].ha.promotionRefusal(at: hosts[h].instant(time))
        return status
    }

    mutating func cycle(_ h: Int) {
        let local = observe(h)
        let raft = hosts[h].raft!
        // A leader reads the store linearizably (`Agent.cycle`): the read waits until an entry
        // of its term is committed, so the view holds every earlier leader's writes (the last
        // `sync` key above all). Here: look again shortly.
        if raft.currentRole == .leader, !raft.committedInCurrentTerm, !options.plantedBugs.contains(.staleStoreView) {
            queue.push(.cycle(h, epoch: hosts[h].agentEpoch), at: time + hosts[h].globalDelay(10))
            return
        }
        let items = hosts[h].store.list(prefix: "")
        // One reader for all hosts: a value's revision is its log index, the same entry on every
        // host, so a decoding is shared.
        let (view, _) = reader.view(from: items, nowUnixMs: hosts[h].wallClock(time))
        hosts[h].lastView = view
        var voters: [UInt64: String] = [:]
        for v in raft.membership.voters { voters[v.rawValue] = names[Int(v.rawValue) - 1] }
        let lease = hosts[h].lease
        let raftView = RaftView(isLeader: raft.currentRole == .leader, term: raft.currentTerm.rawValue,
                                leader: raft.currentLeader.flatMap { names[Int($0.rawValue) - 1] },
                                leaseDeadline: lease.map { Instant(milliseconds: UInt64(max(0, $0.deadline))) }, voters: voters)
        let input = HAInput(now: hosts[h].instant(time), me: hostName(h), tags: hosts[h].tags, raft: raftView, cluster: view,
                            local: local, statusRound: hosts[h].statusRound, wallClockUnixMs: hosts[h].wallClock(time))
        // Keep the fence in step with what runs.
        if local.isRunningPrimary && input.holdsLease {
            _ = armFence(h)
        } else if !local.isRunningPrimary {
            disarmFence(h)
        }
        if raftView.isLeader && !input.holdsLease {
            if hosts[h].leaseRechecks.term != raftView.term { hosts[h].leaseRechecks = (raftView.term, 0) }
            if hosts[h].leaseRechecks.count < 10 {
                hosts[h].leaseRechecks.count += 1
                hosts[h].wakePending = true
            }
        }
        // A Postgres that is not a running primary renders the blocking value in synchronous modes.
        if !local.isRunningPrimary {
            hosts[h].pg.synchronousStandbyNames = view.config.synchronousMode == .off ? "" : SynchronousStandbyNames.none
        }
        let actions = hosts[h].ha.decide(input)
        hosts[h].plan = Plan(actions: actions, index: 0, input: input)
        runPlan(h)
    }

    /// Carries out the plan's actions from where it stands until one waits or stops.
    mutating func runPlan(_ h: Int) {
        while var plan = hosts[h].plan, plan.index < plan.actions.count, plan.waiting == nil {
            let action = plan.actions[plan.index]
            let result = execute(h, action, &plan)
            switch result {
            case .next:
                plan.index += 1
                plan.phase = 0
                plan.attempts = 0
                hosts[h].plan = plan
            case .stop:
                plan.index = plan.actions.count
                hosts[h].plan = plan
            case .wait(let w):
                plan.waiting = w
                hosts[h].plan = plan
                return
            }
            if violation != nil { return }
        }
        finishCycle(h)
    }

    /// The cycle ended: report, and run again at once if something asked for it.
    mutating func finishCycle(_ h: Int) {
        hosts[h].plan = nil
        report(h)
        hosts[h].cycleRunning = false
        if hosts[h].wakePending {
            hosts[h].wakePending = false
            let delay = hosts[h].leaseRechecks.count > 0 && hosts[h].raft?.currentRole == .leader && !hosts[h].holdsLease(at: time)
                ? hosts[h].globalDelay(10) : 1
            hosts[h].cycleRunning = true
            queue.push(.cycle(h, epoch: hosts[h].agentEpoch), at: time + delay)
        }
    }

    /// What the current step waited for finished.
    mutating func resumePlan(_ h: Int, ok: Bool) {
        guard var plan = hosts[h].plan, plan.waiting != nil else { return }
        // A stopped agent learns the outcome when it runs again (`resumeDeferredPlan`).
        guard hosts[h].agentRuns(at: time) else {
            hosts[h].deferredResume = ok
            return
        }
        plan.waiting = nil
        plan.lastOK = ok
        plan.phase += 1
        hosts[h].plan = plan
        runPlan(h)
    }

    /// The agent runs again: the step that finished while it was stopped goes on.
    mutating func resumeDeferredPlan(_ h: Int) {
        guard let ok = hosts[h].deferredResume, hosts[h].agentRuns(at: time) else { return }
        hosts[h].deferredResume = nil
        resumePlan(h, ok: ok)
    }

    mutating func storeStepDone(_ h: Int, _ id: UInt64, ok: Bool) {
        guard hosts[h].plan?.waiting == .store(id) else { return }
        resumePlan(h, ok: ok)
    }

    enum StepResult { case next, stop, wait(Plan.Wait) }

    // MARK: The executor

    mutating func execute(_ h: Int, _ action: HAAction, _ plan: inout Plan) -> StepResult {
        let bugs = options.plantedBugs
        switch action {
        case .setMayCampaign(let allowed, _):
            hosts[h].raft!.setMayCampaign(allowed)
            processReady(h)
            return .next

        case .wait(let reason):
            if hosts[h].lastWait != reason {
                hosts[h].lastWait = reason
                note("\(hostName(h)) waits: \(reason)")
            }
            return .next

        case .refuse:
            hosts[h].activity = .refused
            return .stop

        case .bootstrap:
            switch plan.phase {
            case 0:
                if hosts[h].store.get(ClusterKey.initialize.path) != nil { hosts[h].wakePending = true; return .stop }
                guard armFence(h) else { return .stop }
                hosts[h].activity = .initializing
                hosts[h].startedAsPrimary = true
                note("\(hostName(h)) bootstraps the cluster")
                return .wait(.postgres(operation: startOperation(h, .initdb, random.int(in: 500...1500))))
            case 1:
                guard plan.lastOK else {
                    hosts[h].activity = nil
                    hosts[h].ha.record(.bootstrapFailed(at: hosts[h].instant(time), reason: "initdb interrupted"))
                    disarmFence(h)
                    return .stop
                }
                _ = armFence(h)
                let id = storeWrite(h, .put(key: ClusterKey.initialize.path, value: Array(String(Self.systemIdentifier).utf8), expectedRevision: 0), .blocking)
                return .wait(.store(id))
            case 2:
                guard plan.lastOK else {
                    hosts[h].activity = nil
                    killPostgres(h, "bootstrap could not record the system identifier")
                    disarmFence(h)
                    return .stop
                }
                let id = storeWrite(h, .put(key: ClusterKey.config.path, value: ClusterState.encode(config), expectedRevision: 0), .blocking)
                return .wait(.store(id))
            default:
                hosts[h].activity = nil
                hosts[h].wakePending = true
                return .next
            }

        case .adoptExistingCluster(let sysid):
            if plan.phase == 0 {
                return .wait(.store(storeWrite(h, .put(key: ClusterKey.initialize.path, value: Array(String(sysid).utf8), expectedRevision: 0), .blocking)))
            }
            if plan.lastOK { hosts[h].wakePending = true }
            return plan.lastOK ? .next : .stop

        case .startPrimary:
            switch plan.phase {
            case 0:
                guard bugs.contains(.promoteWithoutLease) || armFence(h, term: plan.input.raft.term) else { return .stop }
                hosts[h].startedAsPrimary = true
                note("\(hostName(h)) starts Postgres as primary (restart in place)")
                return .wait(.postgres(operation: startOperation(h, .start(asPrimary: true), random.int(in: 200...1500))))
            default:
                guard plan.lastOK else {
                    disarmFence(h)
                    hosts[h].ha.record(.startFailed(at: hosts[h].instant(time), reason: "start interrupted"))
                    return .stop
                }
                _ = armFence(h)
                hosts[h].wakePending = true
                return .next
            }

        case .startReplica(let following):
            switch plan.phase {
            case 0:
                disarmFence(h)
                hosts[h].startedAsPrimary = false
                hosts[h].pg.upstream = following.flatMap { index(of: $0) }
                note("\(hostName(h)) starts Postgres as a standby of \(following ?? "nobody yet")")
                return .wait(.postgres(operation: startOperation(h, .start(asPrimary: false), random.int(in: 200...1500))))
            default:
                guard plan.lastOK else {
                    hosts[h].ha.record(.startFailed(at: hosts[h].instant(time), reason: "start interrupted"))
                    return .stop
                }
                hosts[h].wakePending = true
                return .next
            }

        case .follow(let member):
            guard plan.input.cluster.members[member] != nil, let up = index(of: member) else { return .stop }
            hosts[h].pg.upstream = up
            disconnectReceiver(h, clean: true)
            return .next

        case .gatherStatus(let term):
            if plan.phase == 0 {
                roundSerial += 1
                let id = roundSerial
                hosts[h].gathering = (id, term, [hostName(h): observedStatus(h)])
                for o in hosts.indices where o != h { send(h, o, .agent, .statusRequest(round: id)) }
                queue.push(.roundDeadline(h, epoch: hosts[h].agentEpoch, round: id), at: time + hosts[h].globalDelay(Double(Self.statusRoundMs)))
                return .wait(.statusRound(id))
            }
            hosts[h].wakePending = true
            return .stop

        case .promote(let reason, _):
            switch plan.phase {
            case 0:
                plan.attempts = 0
                return reserveTimeline(h, &plan)
            case 1:
                if !plan.lastOK {
                    guard plan.attempts < 5 else { return .stop }
                    plan.phase = 0
                    return reserveTimeline(h, &plan)
                }
                // `pg_ctl promote` fails on a server that is not a running standby (it crashed
                // while the timeline was being reserved).
                guard hosts[h].pg.isRunningStandby, !hosts[h].pg.promoting else {
                    hosts[h].ha.record(.promoteFailed(at: hosts[h].instant(time), reason: "Postgres is not a running standby"))
                    return .stop
                }
                guard bugs.contains(.promoteWithoutLease) || armFence(h, term: plan.input.raft.term) else { return .stop }
                checkPromotion(h, reason: reason, plan.input)
                var length = random.int(in: 100...600)
                if random.chance(0.15) {
                    length = random.int(in: 2_000...8_000)
                    stats.slowPromotions += 1
                }
                note("\(hostName(h)) promotes (\(reason)), \(length) ms")
                hosts[h].pg.promoting = true
                disconnectReceiver(h, clean: true)
                return .wait(.postgres(operation: startOperation(h, .promote, length)))
            case 2:
                guard plan.lastOK else {
                    hosts[h].ha.record(.promoteFailed(at: hosts[h].instant(time), reason: "the promotion was interrupted"))
                    return .stop
                }
                stats.promotions += 1
                hosts[h].statusRound = nil
                pgSerial += 1
                _ = hosts[h].pg.append(.checkpoint(host: h, serial: pgSerial), bytes: 120, at: time)
                plan.attempts = 0
                return appendHistory(h, &plan, reason: reason) ?? promoted(h)
            case 3:
                if !plan.lastOK && plan.attempts < 5 {
                    plan.phase = 2
                    return appendHistory(h, &plan, reason: reason) ?? promoted(h)
                }
                return promoted(h)
            default:
                return .next
            }

        case .fence(let reason):
            killPostgres(h, "fence: \(reason)")
            hosts[h].pg.process = .stopped
            disarmFence(h)
            stats.fences += 1
            hosts[h].wakePending = true
            return .stop

        case .rewind(let source):
            switch plan.phase {
            case 0:
                guard plan.input.cluster.members[source] != nil, index(of: source) != nil else { return .stop }
                hosts[h].activity = .rewinding
                return .wait(.postgres(operation: startOperation(h, .stop(clean: true), random.int(in: 50...400))))
            case 1:
                let src = index(of: source)!
                guard reachable(h, src, .wal), hosts[src].pg.process == .running else {
                    hosts[h].activity = nil
                    hosts[h].ha.record(.rewindDeferred(at: hosts[h].instant(time), reason: "the source is unreachable"))
                    return .stop
                }
                return .wait(.postgres(operation: startOperation(h, .rewind(from: src), random.int(in: 200...1500))))
            case 2:
                hosts[h].activity = nil
                guard plan.lastOK else {
                    hosts[h].ha.record(.rewindDeferred(at: hosts[h].instant(time), reason: "pg_rewind lost its source"))
                    return .stop
                }
                stats.rewinds += 1
                return startRepairedStandby(h, following: source)
            default:
                return repairedStandbyStarted(h, plan)
            }

        case .rebuild(let source):
            switch plan.phase {
            case 0:
                guard plan.input.cluster.members[source] != nil, let src = index(of: source) else { return .stop }
                hosts[h].activity = .creatingReplica
                if hosts[h].pg.process != .stopped { killPostgres(h, "stopped for a base backup"); hosts[h].pg.process = .stopped }
                guard reachable(h, src, .wal), hosts[src].pg.process == .running else {
                    hosts[h].activity = nil
                    hosts[h].ha.record(.rebuildFailed(at: hosts[h].instant(time), reason: "the source is unreachable"))
                    return .stop
                }
                return .wait(.postgres(operation: startOperation(h, .rebuild(from: src), random.int(in: 800...3000))))
            case 1:
                hosts[h].activity = nil
                guard plan.lastOK else {
                    hosts[h].ha.record(.rebuildFailed(at: hosts[h].instant(time), reason: "the base backup lost its source"))
                    return .stop
                }
                stats.rebuilds += 1
                return startRepairedStandby(h, following: source)
            default:
                return repairedStandbyStarted(h, plan)
            }

        case .transferLeadership(let member, let raftID, _):
            note("\(hostName(h)) hands leadership to \(member)")
            try? hosts[h].raft!.transferLeadership(to: NodeID(raftID))
            processReady(h)
            return .stop

        case .switchover:
            return .stop

        case .clearFailover:
            if plan.phase == 0 { return .wait(.store(storeWrite(h, .delete(key: ClusterKey.failover.path, expectedRevision: nil), .blocking))) }
            hosts[h].wakePending = true
            return .stop

        case .syncSlots(let members):
            hosts[h].pg.slots = Set(members.map(ReplicationSlot.name(for:)))
            return .next

        case .setSynchronousStandbyNames(let names, _):
            if hosts[h].pg.synchronousStandbyNames != names { note("\(hostName(h)) synchronous_standby_names = '\(names)'") }
            hosts[h].pg.synchronousStandbyNames = names
            return .next

        case .recordPromotion(let timeline):
            guard hosts[h].pg.timeline == timeline else { return .next }
            if plan.phase == 0 {
                plan.attempts = 4  // one attempt: the next cycle asks again if it fails
                return appendHistory(h, &plan, reason: "recorded by the primary") ?? .next
            }
            return .next

        case .writeSync(let state, _):
            if plan.phase == 0 {
                note("\(hostName(h)) writes sync \(state.map { "\($0.members) q\($0.quorum)" } ?? "(delete)")")
                let op: StoreCommand.Operation = state.map { .put(key: ClusterKey.sync.path, value: ClusterState.encode($0), expectedRevision: nil) }
                    ?? .delete(key: ClusterKey.sync.path, expectedRevision: nil)
                return .wait(.store(storeWrite(h, op, .blocking)))
            }
            hosts[h].wakePending = true
            return .stop
        }
    }

    /// After a rewind or a base backup: the failures are forgotten and Postgres starts as a
    /// standby of `source`.
    mutating func startRepairedStandby(_ h: Int, following source: String) -> StepResult {
        hosts[h].ha.record(.repaired)
        hosts[h].startedAsPrimary = false
        hosts[h].pg.upstream = index(of: source)
        let length = random.int(in: 200...1500)
        return .wait(.postgres(operation: startOperation(h, .start(asPrimary: false), length)))
    }

    mutating func repairedStandbyStarted(_ h: Int, _ plan: Plan) -> StepResult {
        if plan.lastOK { hosts[h].wakePending = true }
        return plan.lastOK ? .next : .stop
    }

    /// `Agent.reserveTimeline`: compare-and-set of the `timeline` key; the promotion starts the
    /// reserved number (the placeholder history files make Postgres skip to it).
    mutating func reserveTimeline(_ h: Int, _ plan: inout Plan) -> StepResult {
        plan.attempts += 1
        let current = hosts[h].store.get(ClusterKey.timeline.path)
        let reserved = current.flatMap { ClusterState.decode(TimelineReservation.self, $0.value) }
        let history = hosts[h].store.get(ClusterKey.history.path).flatMap { ClusterState.decode([HistoryRow].self, $0.value) } ?? []
        let next = TimelineReservation.next(after: reserved, history: history, own: hosts[h].pg.timeline)
        hosts[h].pg.reservedTimeline = next
        let value = ClusterState.encode(TimelineReservation(timeline: next, member: hostName(h)))
        let id = storeWrite(h, .put(key: ClusterKey.timeline.path, value: value, expectedRevision: current?.modRevision ?? 0), .blocking)
        return .wait(.store(id))
    }

    /// The promotion's last step: the `status` key, and another cycle at once.
    mutating func promoted(_ h: Int) -> StepResult {
        let p = PrimaryPosition(lsn: LSN(hosts[h].pg.lastEnd), timeline: hosts[h].pg.timeline, member: hostName(h))
        _ = storeWrite(h, .put(key: ClusterKey.status.path, value: ClusterState.encode(p), expectedRevision: nil), .status)
        hosts[h].wakePending = true
        return .next
    }

    /// `Agent.appendHistory`: compare-and-set on this host's copy of `history`; nil when there
    /// is nothing to append (a row for this timeline exists).
    mutating func appendHistory(_ h: Int, _ plan: inout Plan, reason: String) -> StepResult? {
        plan.attempts += 1
        let current = hosts[h].store.get(ClusterKey.history.path)
        let stored = current.flatMap { ClusterState.decode([HistoryRow].self, $0.value) } ?? []
        let timeline = hosts[h].pg.timeline
        let switches = hosts[h].pg.switchPoints()
        guard let fork = switches[timeline] else { return nil }
        let own = HistoryRow(timeline: timeline, lsn: fork.lsn, atUnixMs: hosts[h].wallClock(time),
                             reason: reason, oldPrimary: plan.input.cluster.lastPrimary, newPrimary: hostName(h), parent: fork.parent)
        guard let rows = HistoryRow.completed(stored, own: own, switches: switches) else { return nil }
        let id = storeWrite(h, .put(key: ClusterKey.history.path, value: ClusterState.encode(rows), expectedRevision: current?.modRevision ?? 0), .blocking)
        return .wait(.store(id))
    }

    // MARK: Status round

    mutating func statusAnswerArrived(_ h: Int, _ round: Int, _ status: MemberStatus) {
        guard var g = hosts[h].gathering, g.id == round else { return }
        g.statuses[status.name] = status
        hosts[h].gathering = g
        if g.statuses.count == hosts.count { finishRound(h, round) }
    }

    mutating func finishRound(_ h: Int, _ round: Int) {
        guard let g = hosts[h].gathering, g.id == round else { return }
        hosts[h].gathering = nil
        hosts[h].statusRound = StatusRound(term: g.term, statuses: g.statuses, at: hosts[h].instant(time))
        guard hosts[h].plan?.waiting == .statusRound(round) else { return }
        resumePlan(h, ok: true)
    }

    // MARK: Reports

    /// `Agent.report`: the member key when its shape changed or every `report_ms`, and the
    /// primary's position with it; one report in flight at a time.
    mutating func report(_ h: Int) {
        let status = observedStatus(h)
        let now = hosts[h].local(time)
        let changed = hosts[h].lastReported.map { !$0.sameShape(as: status) } ?? true
        let due = hosts[h].lastReportAt.map { now - $0 >= Double(Self.reportMs) } ?? true
        guard (changed || due) && !hosts[h].reportInFlight else { return }
        hosts[h].reportInFlight = true
        hosts[h].lastReportAt = now
        _ = storeWrite(h, .put(key: ClusterKey.member(hostName(h)).path, value: ClusterState.encode(status), expectedRevision: nil), .report(status))
        if hosts[h].raft!.currentRole == .leader, hosts[h].pg.isRunningPrimary {
            let p = PrimaryPosition(lsn: LSN(hosts[h].pg.lastEnd), timeline: hosts[h].pg.timeline, member: hostName(h))
            _ = storeWrite(h, .put(key: ClusterKey.status.path, value: ClusterState.encode(p), expectedRevision: nil), .status)
        }
    }

    // MARK: Lease fence and guard

    /// `LeaseFence.arm`: arms only if the lease is valid now, and arms the guard with it — for
    /// the postmaster's pid, or before a start for the data directory (`arm-datadir`: whatever
    /// postmaster runs there when the deadline passes is fenced), so a start is guarded too.
    /// With `term` (the decision's), a lease of another term is refused.
    mutating func armFence(_ h: Int, term: UInt64? = nil) -> Bool {
        guard let l = hosts[h].lease, hosts[h].local(time) < l.deadline else { return false }
        if let term, l.term.rawValue != term { return false }
        hosts[h].fenceArmedTerm = l.term
        if !hosts[h].guardArmed {
            hosts[h].guardArmed = true
            armGuard(h, deadline: l.deadline)
        }
        return true
    }

    mutating func disarmFence(_ h: Int) {
        hosts[h].fenceArmedTerm = nil
        hosts[h].guardArmed = false
        hosts[h].guardDeadline = nil
        hosts[h].guardGeneration += 1
    }

    /// The lease fence's timer: fences the moment the lease lapsed or changed term.
    mutating func fenceCheck(_ h: Int) {
        guard let term = hosts[h].fenceArmedTerm, !options.plantedBugs.contains(.fenceOnNextLoop) else { return }
        if let l = hosts[h].lease, l.term == term, hosts[h].local(time) < l.deadline {
            if hosts[h].guardArmed { armGuard(h, deadline: l.deadline) }
            return
        }
        if hosts[h].pg.process != .stopped, !hosts[h].pg.isCrashed {
            stats.fences += 1
            killPostgres(h, "lease fence: the lease lapsed")
        }
        disarmFence(h)
        wake(h)
    }

    /// The fence guard, told the deadline on arm and on every renewal; it fences when the
    /// deadline passes unrenewed (it runs while the agent is frozen).
    mutating func armGuard(_ h: Int, deadline: Double) {
        guard !options.plantedBugs.contains(.fenceOnNextLoop) else { return }
        hosts[h].guardDeadline = deadline
        hosts[h].guardGeneration += 1
        let at = Int((deadline / hosts[h].rate).rounded(.up))
        queue.push(.guardCheck(h, generation: hosts[h].guardGeneration), at: max(time + 1, at))
    }

    mutating func guardCheck(_ h: Int) {
        guard let d = hosts[h].guardDeadline, hosts[h].local(time) >= d else { return }
        hosts[h].guardDeadline = nil
        if hosts[h].pg.process != .stopped, !hosts[h].pg.isCrashed {
            stats.guardFences += 1
            killPostgres(h, "fence guard: the lease deadline passed unrenewed")
        }
        if hosts[h].agentRuns(at: time) { wake(h) }
    }
}

extension SimPostgres {
    var isCrashed: Bool { if case .crashed = process { return true }; return false }
}
