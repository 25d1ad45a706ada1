import Foundation
import HACore
import Logging
import NIOCore
import RaftCore

extension Agent {
    /// Performs one action of a decision; false stops the rest of the decision's actions (the
    /// next cycle sees what happened).
    func execute(_ action: HAAction, _ input: HAInput) async -> Bool {
        switch action {
        case .setMayCampaign(let allowed, let reason):
            runtime.setMayCampaign(allowed)
            logger.info(allowed ? "may campaign" : "may not campaign", metadata: ["reason": "\(reason)"])
            return true

        case .bootstrap:
            return await bootstrap()

        case .adoptExistingCluster(let sysid):
            do {
                _ = try await runtime.put(ClusterKey.initialize.path, Array(String(sysid).utf8), expectedRevision: 0)
                logger.notice("took over the existing data directory as the cluster's", metadata: ["postgres.system_identifier": "\(sysid)"])
                await writeBootstrapConfig()
                runAgain = true
                return true
            } catch {
                logger.error("could not record the cluster's system identifier", metadata: ["error": "\(error)"])
                return false
            }

        case .startPrimary:
            guard await fence.arm(pid: nil, term: input.raft.term) else { return false }
            counters.restarts += 1
            logger.notice("starting Postgres as primary (restart in place)")
            startedAsPrimary = true
            do {
                try await postgres.start(.primary)
            } catch {
                await fence.disarm()
                ha.record(.startFailed(at: Instant(.now()), reason: "\(error)"))
                logger.error("Postgres did not start as primary", metadata: ["error": "\(error)"])
                return false
            }
            _ = await fence.arm(pid: postgres.postmasterPID)
            _ = await postgres.waitUntilReady(timeout: .seconds(10))
            callbacks.fire(.onStart, role: "primary")
            runAgain = true
            return true

        case .startReplica(let following):
            await fence.disarm()
            var upstream: PostgresUpstream?
            if let following { upstream = self.upstream(of: following, in: input.cluster) }
            logger.notice("starting Postgres as a standby", metadata: ["following": "\(following ?? "nobody yet")"])
            return await startStandby(following: upstream)

        case .follow(let member):
            guard let up = upstream(of: member, in: input.cluster) else { return false }
            do {
                try await postgres.follow(up)
                logger.notice("following the new primary", metadata: ["following": "\(member)", "upstream": "\(up.host):\(up.port)"])
                return true
            } catch {
                logger.error("could not repoint the standby", metadata: ["following": "\(member)", "error": "\(error)"])
                return false
            }

        case .gatherStatus(let term):
            statusRound = await gatherStatus(term: term)
            runAgain = true
            return false

        case .promote(let reason, let oldPrimary):
            return await promote(reason: reason, oldPrimary: oldPrimary, term: input.raft.term,
                                 ownTimeline: input.local.running?.timeline ?? 1)

        case .fence(let reason):
            let signalled = postgres.fenceNow()
            await fence.disarm()
            counters.fences += 1
            logger.warning("fenced Postgres: stopped it immediately", metadata: ["reason": "\(reason)", "postgres.signalled": "\(signalled)"])
            await postgres.stop(.immediate, timeout: .seconds(5))
            callbacks.fire(.onStop, role: "primary")
            runAgain = true
            return false

        case .rewind(let source):
            guard let up = upstream(of: source, in: input.cluster) else { return false }
            activity = .rewinding
            defer { activity = nil }
            // A clean stop: pg_rewind needs a cleanly shut down target (a standby interrupted by
            // an immediate stop cannot be crash-recovered in single-user mode).
            await postgres.stop(.fast, timeout: .seconds(60))
            logger.notice("rewinding the former primary's data directory with pg_rewind", metadata: ["source": "\(source)"])
            do {
                let result = try await postgres.rewind(from: up)
                counters.rewinds += 1
                ha.record(.repaired)
                switch result {
                case .rewound: logger.notice("pg_rewind rewound the data directory onto the primary's timeline", metadata: ["source": "\(source)"])
                case .notNeeded: logger.notice("pg_rewind found no divergence; no rewind required", metadata: ["source": "\(source)"])
                }
            } catch let error as PostgresError where error.kind != .toolFailed {
                // pg_rewind did not get to run (its source was unreachable, say): try again later.
                ha.record(.rewindDeferred(at: Instant(.now()), reason: "\(error)"))
                logger.warning("pg_rewind could not run; retrying soon", metadata: ["source": "\(source)", "error": "\(error)"])
                return false
            } catch {
                ha.record(.rewindFailed(at: Instant(.now()), reason: "\(error)"))
                logger.error("pg_rewind failed", metadata: ["source": "\(source)", "error": "\(error)"])
                runAgain = true
                return false
            }
            activity = nil
            return await startStandby(following: up)

        case .rebuild(let source):
            guard let up = upstream(of: source, in: input.cluster) else { return false }
            activity = .creatingReplica
            defer { activity = nil }
            await postgres.stop(.immediate, timeout: .seconds(5))
            logger.notice("taking a base backup", metadata: ["source": "\(source)"])
            report(local: await observe(), raft: input.raft)
            do {
                try await postgres.rebuild(from: up)
                counters.rebuilds += 1
                ha.record(.repaired)
                setAsidePending = true
            } catch {
                ha.record(.rebuildFailed(at: Instant(.now()), reason: "\(error)"))
                logger.error("the base backup failed", metadata: ["source": "\(source)", "error": "\(error)"])
                return false
            }
            activity = nil
            return await startStandby(following: up)

        case .transferLeadership(let member, let raftID, let reason):
            counters.transfers += 1
            logger.notice("handing Raft leadership to a better primary", metadata: ["to": "\(member)", "reason": "\(reason)"])
            do { try await runtime.transferLeadership(to: NodeID(raftID)) } catch {
                logger.warning("leadership transfer refused", metadata: ["to": "\(member)", "error": "\(error)"])
            }
            return false

        case .switchover(let member, let raftID, let kind):
            return await switchover(to: member, raftID: raftID, kind: kind, input)

        case .clearFailover(let reason):
            await clearFailover(reason: reason)
            runAgain = true
            return false

        case .setSynchronousStandbyNames(let names, let reason):
            do {
                try await postgres.setSynchronousStandbyNames(names, force: true)
                logger.notice("synchronous_standby_names set", metadata: ["postgres.synchronous_standby_names": "\(names)", "reason": "\(reason)"])
                return true
            } catch {
                logger.error("could not set synchronous_standby_names", metadata: ["error": "\(error)"])
                return false
            }

        case .recordPromotion(let timeline):
            let switches = postgres.switchPoints(of: timeline)
            guard let fork = switches[timeline] else {
                logger.warning("cannot record the promotion in history: no readable timeline history file",
                               metadata: ["postgres.timeline": "\(timeline)"])
                return true
            }
            await appendHistory(HistoryRow(timeline: timeline, lsn: fork.lsn, atUnixMs: UInt64(Date().timeIntervalSince1970 * 1000),
                                           reason: "recorded by the primary", oldPrimary: input.cluster.lastPrimary, newPrimary: config.name,
                                           parent: fork.parent), switches: switches)
            return true

        case .writeSync(let state, let reason):
            do {
                if let state {
                    _ = try await runtime.put(ClusterKey.sync.path, ClusterState.encode(state))
                } else {
                    _ = try await runtime.delete(ClusterKey.sync.path)
                }
                logger.notice("sync key written", metadata: [
                    "sync.members": "\(state?.members ?? [])", "sync.quorum": "\(state?.quorum ?? 0)", "reason": "\(reason)"])
                runAgain = true
                return false
            } catch {
                logger.warning("could not write the sync key", metadata: ["error": "\(error)"])
                return false
            }

        case .syncSlots(let members):
            do {
                try await postgres.syncSlots(Set(members.map(PostgresController.slotName(for:))))
                return true
            } catch {
                logger.warning("could not sync replication slots", metadata: ["error": "\(error)"])
                return true
            }

        case .refuse(let reason):
            activity = .refused
            if lastRefusal != reason {
                lastRefusal = reason
                logger.error("refusing to run Postgres on this data directory", metadata: ["reason": "\(reason)"])
            }
            return false

        case .wait(let reason):
            if lastWait != reason {
                lastWait = reason
                logger.info("waiting", metadata: ["reason": "\(reason)"])
            }
            return true
        }
    }

    /// Starts the local Postgres as a standby of `up` (nil: in recovery, following nobody yet).
    private func startStandby(following up: PostgresUpstream?) async -> Bool {
        startedAsPrimary = false
        do {
            try await postgres.start(.standby(following: up))
        } catch {
            ha.record(.startFailed(at: Instant(.now()), reason: "\(error)"))
            logger.error("Postgres did not start as a standby", metadata: ["error": "\(error)"])
            return false
        }
        _ = await postgres.waitUntilReady(timeout: .seconds(10))
        callbacks.fire(.onStart, role: "replica")
        runAgain = true
        return true
    }

    /// Where `member`'s Postgres is, from its report. A standby upstream (cascading
    /// replication) is streamed from without a slot.
    func upstream(of member: String, in view: ClusterView) -> PostgresUpstream? {
        guard let m = view.members[member] else {
            logger.warning("no report from the member to follow", metadata: ["member": "\(member)"])
            return nil
        }
        return PostgresUpstream(member: member, host: m.host, port: m.port, usesSlot: m.role != .replica)
    }

    // MARK: Bootstrap

    private func bootstrap() async -> Bool {
        // The local copy of the store may be behind: confirm with the leader's quorum that no
        // one initialized the cluster.
        do {
            if try await runtime.get(ClusterKey.initialize.path, linearizable: true) != nil {
                runAgain = true
                return false
            }
        } catch {
            return false
        }
        guard await fence.arm(pid: nil) else { return false }
        activity = .initializing
        startedAsPrimary = true
        defer { activity = nil }
        logger.notice("bootstrapping a new Postgres cluster (initdb --data-checksums)", metadata: ["member": "\(config.name)"])
        let sysid: UInt64
        do {
            sysid = try await postgres.bootstrap()
        } catch {
            ha.record(.bootstrapFailed(at: Instant(.now()), reason: "\(error)"))
            logger.error("bootstrap failed", metadata: ["error": "\(error)"])
            await postgres.stop(.immediate, timeout: .seconds(5))
            await fence.disarm()
            return false
        }
        _ = await fence.arm(pid: postgres.postmasterPID)
        do {
            _ = try await runtime.put(ClusterKey.initialize.path, Array(String(sysid).utf8), expectedRevision: 0)
        } catch {
            // Somebody else's bootstrap won (or the store failed): this cluster is not ours.
            logger.critical("could not record the new cluster's system identifier; stopping it", metadata: ["error": "\(error)"])
            _ = postgres.fenceNow()
            await fence.disarm()
            return false
        }
        await writeBootstrapConfig()
        logger.notice("bootstrapped the cluster", metadata: ["postgres.system_identifier": "\(sysid)"])
        runAgain = true
        return true
    }

    /// Writes `bootstrap.dcs` as the store's `config` unless a configuration is already there.
    func writeBootstrapConfig() async {
        guard let dcs = config.bootstrapDynamicConfig else { return }
        do {
            _ = try await runtime.put(ClusterKey.config.path, dcs.bytes, expectedRevision: 0)
            logger.notice("wrote the bootstrap dynamic configuration", metadata: ["config": "\(String(decoding: dcs.bytes, as: UTF8.self))"])
        } catch StoreError.revisionMismatch {
            logger.info("the store already holds a dynamic configuration; bootstrap.dcs is not applied")
        } catch {
            logger.warning("could not write the bootstrap dynamic configuration", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Failover

    /// Failover step 2: every reachable member's fresh status, within `ha.status_round_ms`.
    func gatherStatus(term: UInt64) async -> StatusRound {
        var statuses: [String: MemberStatus] = [:]
        statuses[config.name] = memberStatus(from: await postgres.observe())
        let timeout = Duration.milliseconds(config.ha.statusRoundMilliseconds)
        let client = self.client
        let peers = config.store.peers.filter { $0.id != config.store.node }.map(\.id)
        let answers = await withTaskGroup(of: MemberStatus?.self) { group in
            for peer in peers {
                group.addTask {
                    guard let json = try? await client.memberStatus(of: peer, timeout: timeout) else { return nil }
                    return try? JSONDecoder().decode(MemberStatus.self, from: Data(json))
                }
            }
            var all: [MemberStatus] = []
            for await s in group { if let s { all.append(s) } }
            return all
        }
        for s in answers { statuses[s.name] = s }
        let placement = Placement(statuses: Array(statuses.values), cluster: lastView)
        logger.info("status round", metadata: ["raft.term": "\(term)", "answered": "\(statuses.keys.sorted())",
                                               "wal": "\(statuses.mapValues { $0.lsn.map { "\($0)" } ?? "-" })",
                                               "candidates": "\(placement.ranked.map(\.name))",
                                               "excluded": "\(placement.excluded.isEmpty ? "-" : placement.exclusionSummary)"])
        return StatusRound(term: term, statuses: statuses, at: Instant(.now()))
    }

    private func promote(reason: String, oldPrimary: String?, term: UInt64, ownTimeline: UInt32) async -> Bool {
        // The hook may take up to its timeout: run it first, so that the lease is checked (by
        // arming the fence) right before the promotion, not before the hook.
        if let refusal = await callbacks.prePromote(role: "replica") {
            ha.record(.promoteRefused(at: Instant(.now()), reason: refusal))
            logger.warning("pre_promote refused the promotion; another member will be tried", metadata: ["reason": "\(refusal)"])
            runAgain = true
            return false
        }
        // A number reserved for a promotion that then does not happen is only skipped.
        guard let timeline = await reserveTimeline(ownTimeline: ownTimeline) else {
            logger.warning("not promoting: no timeline number could be reserved in the store")
            return false
        }
        guard await fence.arm(pid: postgres.postmasterPID, term: term) else {
            logger.warning("not promoting: the lease is not valid, or of a later term than the decision's")
            return false
        }
        logger.notice("promoting this member", metadata: ["reason": "\(reason)", "postgres.timeline": "\(timeline)"])
        let result: (timeline: UInt32, lsn: LSN)
        do {
            result = try await postgres.promote(waitSeconds: 30, timeline: timeline)
        } catch {
            ha.record(.promoteFailed(at: Instant(.now()), reason: "\(error)"))
            logger.error("promotion failed", metadata: ["error": "\(error)"])
            return false
        }
        counters.promotions += 1
        if reason.hasPrefix("failover") || reason == "manual failover" { counters.failovers += 1 }
        statusRound = nil
        // A checkpoint puts the new timeline into pg_control at once, which pg_rewind reads
        // from its source (Patroni does the same after promoting).
        do { _ = try await postgres.query("CHECKPOINT") } catch {
            logger.warning("checkpoint after promotion failed", metadata: ["error": "\(error)"])
        }
        logger.notice("promoted: this member is the primary", metadata: [
            "postgres.timeline": "\(result.timeline)", "postgres.lsn": "\(result.lsn)", "old_primary": "\(oldPrimary ?? "-")"])
        // The switch point, as the timeline history file gives it: the end of the old
        // timeline, a little before the position right after the promotion.
        let switches = postgres.switchPoints(of: result.timeline)
        let fork = switches[result.timeline]
        let row = HistoryRow(timeline: result.timeline, lsn: fork?.lsn ?? result.lsn, atUnixMs: UInt64(Date().timeIntervalSince1970 * 1000),
                             reason: reason, oldPrimary: oldPrimary, newPrimary: config.name, parent: fork?.parent)
        await appendHistory(row, switches: switches)
        _ = try? await runtime.put(ClusterKey.status.path,
                                   ClusterState.encode(PrimaryPosition(lsn: result.lsn, timeline: result.timeline, member: config.name)))
        runAgain = true
        return true
    }

    /// Reserves the timeline the promotion starts (`TimelineReservation`) with compare-and-set
    /// (a few attempts); nil if the store did not take it.
    private func reserveTimeline(ownTimeline: UInt32) async -> UInt32? {
        for _ in 0..<5 {
            do {
                let current = try await runtime.get(ClusterKey.timeline.path, linearizable: true)
                let reserved = current.flatMap { ClusterState.decode(TimelineReservation.self, $0.value) }
                let history = try await runtime.get(ClusterKey.history.path, linearizable: false)
                    .flatMap { ClusterState.decode([HistoryRow].self, $0.value) } ?? []
                let next = TimelineReservation.next(after: reserved, history: history, own: ownTimeline)
                _ = try await runtime.put(ClusterKey.timeline.path, ClusterState.encode(TimelineReservation(timeline: next, member: config.name)),
                                          expectedRevision: current?.modRevision ?? 0)
                return next
            } catch StoreError.revisionMismatch {
                continue
            } catch {
                logger.warning("could not reserve a timeline", metadata: ["error": "\(error)"])
                return nil
            }
        }
        return nil
    }

    /// Adds `row` to `history`, and a row for each ancestor in `switches` it lacks
    /// (`HistoryRow.completed`), with compare-and-set (a few attempts).
    private func appendHistory(_ row: HistoryRow, switches: [UInt32: TimelineSwitch]) async {
        for _ in 0..<5 {
            do {
                let current = try await runtime.get(ClusterKey.history.path, linearizable: true)
                let stored = current.flatMap { try? JSONDecoder().decode([HistoryRow].self, from: Data($0.value)) } ?? []
                guard let rows = HistoryRow.completed(stored, own: row, switches: switches) else { return }
                logger.notice("recording timelines in history", metadata: [
                    "postgres.timeline": "\(row.timeline)",
                    "history.added": "\(Set(rows.map(\.timeline)).subtracting(stored.map(\.timeline)).sorted())"])
                _ = try await runtime.put(ClusterKey.history.path, ClusterState.encode(rows), expectedRevision: current?.modRevision ?? 0)
                return
            } catch StoreError.revisionMismatch {
                continue
            } catch {
                logger.warning("could not record the promotion in history", metadata: ["error": "\(error)"])
                return
            }
        }
    }
}
