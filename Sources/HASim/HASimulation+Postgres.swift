import HACore

/// The Postgres model's moving parts: operations that take time (start, promotion, stop,
/// pg_rewind, pg_basebackup), crashes and fences, streaming replication over the simulated
/// network, and synchronous commit.
extension HASimulation {
    /// Starts an operation on host `h`'s Postgres lasting `length` ms (host clock); returns its id.
    mutating func startOperation(_ h: Int, _ kind: SimPostgres.Operation.Kind, _ length: Int) -> Int {
        pgSerial += 1
        let doneAt = time + hosts[h].globalDelay(Double(length))
        hosts[h].pg.operation = SimPostgres.Operation(id: pgSerial, kind: kind, doneAt: doneAt)
        if case .start(let asPrimary) = kind { hosts[h].pg.process = .starting(since: time, asPrimary: asPrimary) }
        if case .initdb = kind { hosts[h].pg.process = .starting(since: time, asPrimary: true) }
        queue.push(.postgresDone(h, epoch: hosts[h].pg.epoch, operation: pgSerial), at: doneAt)
        return pgSerial
    }

    mutating func finishPostgresOperation(_ h: Int) {
        guard let op = hosts[h].pg.operation else { return }
        hosts[h].pg.operation = nil
        var ok = true
        switch op.kind {
        case .initdb:
            pgSerial += 1
            hosts[h].pg.initialized = true
            hosts[h].pg.systemIdentifier = Self.systemIdentifier
            hosts[h].pg.wal = [WALRecord(end: 0x0300_0000, timeline: 1, kind: .initdb(systemIdentifier: Self.systemIdentifier), writtenAt: time)]
            hosts[h].pg.process = .running
            hosts[h].pg.inRecovery = false
            hosts[h].pg.controlState = .inProduction
        case .start(let asPrimary):
            hosts[h].pg.process = .running
            hosts[h].pg.inRecovery = !asPrimary
            hosts[h].pg.controlState = asPrimary ? .inProduction : .inArchiveRecovery
            hosts[h].pg.stream = nil
            hosts[h].pg.receiverRetryAt = time
        case .promote:
            hosts[h].pg.promoting = false
            hosts[h].pg.inRecovery = false
            hosts[h].pg.upstream = nil
            hosts[h].pg.controlState = .inProduction
            pgSerial += 1
            let next = max(hosts[h].pg.timeline + 1, hosts[h].pg.reservedTimeline ?? 0)
            hosts[h].pg.reservedTimeline = nil
            _ = hosts[h].pg.append(.timelineSwitch(host: h, serial: pgSerial), bytes: 40, at: time, timeline: next)
            note("\(hostName(h)) is primary on timeline \(next) at \(hosts[h].pg.lastEnd)")
        case .stop(let clean):
            let wasPrimary = !hosts[h].pg.inRecovery && hosts[h].pg.process == .running
            if clean && wasPrimary {
                pgSerial += 1
                _ = hosts[h].pg.append(.checkpoint(host: h, serial: pgSerial), bytes: 120, at: time)
                hosts[h].pg.checkpointLocation = hosts[h].pg.lastEnd - 120
            }
            // Stopping a stopped server changes nothing (its control file keeps a crash's state).
            if hosts[h].pg.process != .stopped {
                hosts[h].pg.controlState = hosts[h].pg.inRecovery ? .shutDownInRecovery : .shutDown
            }
            stopProcess(h)
            hosts[h].pg.process = .stopped
        case .rewind(let src):
            if reachable(h, src, .wal), hosts[src].pg.process == .running {
                let keep = hosts[h].pg.commonPrefix(with: hosts[src].pg.wal)
                if keep < hosts[h].pg.wal.count { note("\(hostName(h)) rewound from \(hostName(src)): \(hosts[h].pg.wal.count - keep) records cut") }
                hosts[h].pg.wal.removeLast(hosts[h].pg.wal.count - keep)
                hosts[h].pg.controlState = .inArchiveRecovery
                ackedIndex[h] = nil
            } else {
                ok = false
            }
        case .rebuild(let src):
            if reachable(h, src, .wal), hosts[src].pg.process == .running {
                hosts[h].pg.initialized = true
                hosts[h].pg.systemIdentifier = hosts[src].pg.systemIdentifier
                hosts[h].pg.wal = hosts[src].pg.wal
                hosts[h].pg.controlState = .inArchiveRecovery
                ackedIndex[h] = nil
                note("\(hostName(h)) took a base backup from \(hostName(src))")
            } else {
                ok = false
            }
        }
        if hosts[h].plan?.waiting == .postgres(operation: op.id) { resumePlan(h, ok: ok) }
    }

    /// The postmaster dies (a crash, a fence, SIGQUIT): it accepts nothing from this instant.
    mutating func killPostgres(_ h: Int, _ why: String) {
        let pg = hosts[h].pg
        guard pg.process != .stopped, !pg.isCrashed else { return }
        note("\(hostName(h)) Postgres stops: \(why)")
        let pending = pg.operation
        stopProcess(h)
        hosts[h].pg.process = .crashed(at: time)
        if pending != nil, hosts[h].plan?.waiting == .postgres(operation: pending!.id) { resumePlan(h, ok: false) }
    }

    /// What every end of the process does: the WAL receiver and senders go, waiting commits fail.
    mutating func stopProcess(_ h: Int) {
        hosts[h].pg.epoch += 1
        hosts[h].pg.operation = nil
        hosts[h].pg.promoting = false
        disconnectReceiver(h, clean: true)
        hosts[h].pg.senders = [:]
        for w in hosts[h].pg.waitingCommits { send(h, HANetwork.clientSide, .client, .commitReply(client: w.client, operation: w.op, ok: false)) }
        hosts[h].pg.waitingCommits = []
        hosts[h].pg.inRecovery = true
    }

    /// The WAL receiver closes its connection (a clean close reaches the upstream at once if the
    /// network lets it; otherwise the upstream times the sender out).
    mutating func disconnectReceiver(_ h: Int, clean: Bool) {
        guard let s = hosts[h].pg.stream else { return }
        hosts[h].pg.stream = nil
        hosts[h].pg.receiverRetryAt = time
        if clean && reachable(h, s.upstream, .wal) { hosts[s.upstream].pg.senders[h] = nil }
    }

    /// Both directions between `a` and `b` are open on `channel`, and `b` is up and running.
    func reachable(_ a: Int, _ b: Int, _ channel: Channel) -> Bool {
        !network.isCut(a, b, channel) && !network.isCut(b, a, channel) && hosts[b].hostRuns(at: time)
    }

    // MARK: Streaming replication

    /// The WAL receiver of host `h` (every `walTickMs`): connects to its upstream when it can,
    /// then copies what the upstream wrote (after the replication lag) and reports its flush.
    mutating func walReceive(_ h: Int) {
        let pg = hosts[h].pg
        guard pg.isRunningStandby, !pg.promoting, let up = pg.upstream, up != h else {
            if pg.stream != nil { disconnectReceiver(h, clean: true) }
            return
        }
        if let s = pg.stream, s.upstream != up { disconnectReceiver(h, clean: true) }
        let u = hosts[up]
        if hosts[h].pg.stream == nil {
            guard time >= pg.receiverRetryAt else { return }
            hosts[h].pg.receiverRetryAt = time + Self.receiverRetryMs
            guard reachable(h, up, .wal), u.pg.process == .running,
                  u.pg.systemIdentifier == pg.systemIdentifier else { return }
            let n = pg.wal.count
            guard n == 0 || u.pg.holds(pg.wal[n - 1], at: n - 1) else { return }  // diverged or the upstream is behind
            hosts[h].pg.stream = SimPostgres.Stream(upstream: up, lastContact: time)
            hosts[up].pg.senders[h] = (pg.lastEnd, time)
        }
        guard let s = hosts[h].pg.stream else { return }
        if !u.hostUp || network.isCut(up, h, .wal) || network.isCut(h, up, .wal) || !u.hostRuns(at: time) {
            // Silence: TCP keeps the connection until the timeout.
            if time - s.lastContact > Self.replicationTimeoutMs { disconnectReceiver(h, clean: false) }
            return
        }
        if u.pg.process != .running {
            disconnectReceiver(h, clean: false)  // the upstream's host reset the connection
            return
        }
        let n = hosts[h].pg.wal.count
        if n > 0 && !u.pg.holds(hosts[h].pg.wal[n - 1], at: n - 1) {
            disconnectReceiver(h, clean: true)  // the upstream's history no longer contains ours
            return
        }
        let visibleUntil = time - hosts[h].pg.replicationLag
        var i = n
        while i < u.pg.wal.count && i < n + 400 && u.pg.wal[i].writtenAt <= visibleUntil {
            hosts[h].pg.wal.append(u.pg.wal[i])
            i += 1
        }
        hosts[h].pg.stream?.lastContact = time
        hosts[up].pg.senders[h] = (hosts[h].pg.lastEnd, time)
    }

    /// On a primary: drops senders that timed out, and acknowledges the waiting commits that
    /// `synchronous_standby_names` now releases.
    mutating func releaseCommits(_ h: Int) {
        guard hosts[h].pg.process == .running else { return }
        let stale = hosts[h].pg.senders.filter { time - $0.value.lastContact > Self.replicationTimeoutMs }.keys.sorted()
        for s in stale { hosts[h].pg.senders[s] = nil }
        guard !hosts[h].pg.inRecovery, !hosts[h].pg.waitingCommits.isEmpty else { return }
        while let w = hosts[h].pg.waitingCommits.first, hosts[h].pg.released(w.index, names: names) {
            hosts[h].pg.waitingCommits.removeFirst()
            acknowledge(h, w.index, client: w.client, op: w.op)
        }
    }

    // MARK: Commits

    mutating func commitArrived(_ h: Int, from client: Int, _ op: UInt64) {
        guard hosts[h].pg.isRunningPrimary, !hosts[h].pg.promoting else {
            send(h, HANetwork.clientSide, .client, .commitReply(client: client, operation: op, ok: false))
            return
        }
        let index = hosts[h].pg.append(.commit(op), bytes: UInt64(random.int(in: 100...600)), at: time)
        if hosts[h].pg.waitingCommits.isEmpty && hosts[h].pg.released(index, names: names) {
            acknowledge(h, index, client: client, op: op)
        } else {
            hosts[h].pg.waitingCommits.append((index, client, op))
        }
    }

    mutating func acknowledge(_ h: Int, _ index: Int, client: Int, op: UInt64) {
        let record = hosts[h].pg.wal[index]
        acknowledged[op] = Acknowledgement(host: h, index: index, record: record, time: time)
        ackOrder.append(op)
        ackedIndex[h] = max(ackedIndex[h] ?? 0, index)
        stats.commitsAcknowledged += 1
        send(h, HANetwork.clientSide, .client, .commitReply(client: client, operation: op, ok: true))
        if let p = probe, stats.failoverMs == nil, h != p.host { stats.failoverMs = time - p.crashedAt }
        checkSyncClaim()
    }
}
