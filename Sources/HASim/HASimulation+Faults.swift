import HACore
import RaftCore

/// Faults on whole hosts (crashes, pauses, partitions, one-way cuts), on parts of them
/// (Postgres crashes, a frozen agent, replication-only cuts, slow replication, slow links), and
/// the run's phases: start-up, faults, healing.
extension HASimulation {
    enum FaultEnd {
        case restart(Int)
        case heal(cut: Int)
        case replicationLag(Int)
        case linkDelay(Int)
    }

    /// Every 100 ms: moves the run through its phases and injects faults.
    mutating func control() {
        switch phase {
        case .startup:
            if healthy() {
                phase = .faults
                faultsStart = time
                note("healthy: faults start")
            } else if time > 60_000 {
                fail("Progress", "the cluster did not become healthy within 60 s of its start: \(healthSummary())")
            }
        case .faults:
            if options.failoverProbe {
                runProbe()
            } else if time >= faultsStart + options.faultMs {
                startHealing()
            } else if random.chance(options.faultRate / 10) {
                injectFault()
            }
        case .healing:
            if healthy(), let last = ackOrder.last, let a = acknowledged[last], a.time >= healStart, a.host == writer {
                stats.healedAfterMs = time - healStart
                note("healthy again after \(time - healStart) ms")
                finalChecks()
                phase = .done
            } else if time > healStart + options.healMs {
                fail("Progress", "not healthy \(options.healMs) ms after the faults stopped: \(healthSummary())")
            }
        case .done:
            break
        }
    }

    /// The failover benchmark's fault: once healthy for a second, crash the primary's host and
    /// wait for the first commit another host acknowledges; then heal.
    mutating func runProbe() {
        if probe == nil, time >= faultsStart + 1_000, let w = writer {
            probe = (time, w)
            note("probe: crash the primary's host \(hostName(w))")
            crashHost(w, downtime: nil)
        } else if let p = probe {
            if stats.failoverMs != nil {
                queue.push(.endFault(.restart(p.host)), at: time)
                startHealing()
            } else if time > p.crashedAt + 30_000 {
                fail("Progress", "no new primary acknowledged a commit within 30 s of the primary's crash")
            }
        }
    }

    mutating func startHealing() {
        phase = .healing
        healStart = time
        note("faults stop; healing")
        network.healAll()
        for h in hosts.indices {
            if !hosts[h].hostUp { restartHost(h) }
            // At once, not as queued events: the writer check runs after this event, and a host
            // that runs again must have had its guard's and fence's look at the clock first.
            if hosts[h].pausedUntil != nil { hosts[h].pausedUntil = time; resumeHost(h) }
            if hosts[h].agentFrozenUntil != nil { hosts[h].agentFrozenUntil = time; thawAgent(h) }
            hosts[h].pg.replicationLag = 0
        }
    }

    mutating func injectFault() {
        // Half the faults aim at the primary's host: that is where failover logic is tested.
        let target = writer.flatMap { random.chance(0.5) ? $0 : nil } ?? random.int(in: 0...(hosts.count - 1))
        let others = Set(hosts.indices).subtracting([target])
        switch random.int(in: 0...9) {
        case 0, 1:
            guard hosts[target].hostUp else { return }
            crashHost(target, downtime: random.int(in: 500...8_000))
        case 2:
            guard hosts[target].hostRuns(at: time) else { return }
            let d = random.int(in: 200...3_000)
            stats.pauses += 1
            hosts[target].pausedUntil = time + d
            note("pause host \(hostName(target)) for \(d) ms")
            queue.push(.resume(target), at: time + d)
        case 3:
            var pairs = Set<[Int]>()
            for o in others { pairs.insert([target, o]); pairs.insert([o, target]) }
            let clientToo = random.chance(0.5)
            if clientToo { pairs.insert([target, HANetwork.clientSide]); pairs.insert([HANetwork.clientSide, target]) }
            let d = random.int(in: 500...8_000)
            stats.partitions += 1
            note("isolate \(hostName(target)) for \(d) ms (clients \(clientToo ? "cut too" : "still connected"))")
            queue.push(.endFault(.heal(cut: network.cut(pairs))), at: time + d)
        case 4:
            var pairs = Set<[Int]>()
            let inbound = random.chance(0.5)
            for o in others { pairs.insert(inbound ? [o, target] : [target, o]) }
            let d = random.int(in: 500...6_000)
            stats.partitions += 1
            note("\(hostName(target)) can \(inbound ? "send but not receive" : "receive but not send") for \(d) ms")
            queue.push(.endFault(.heal(cut: network.cut(pairs))), at: time + d)
        case 5:
            guard hosts[target].hostRuns(at: time), hosts[target].pg.process == .running else { return }
            stats.postgresCrashes += 1
            killPostgres(target, "crash")
            if hosts[target].agentRuns(at: time) { wake(target) }
        case 6:
            guard hosts[target].agentRuns(at: time) else { return }
            let d = random.int(in: 300...5_000)
            stats.agentFreezes += 1
            hosts[target].agentFrozenUntil = time + d
            note("freeze the agent on \(hostName(target)) for \(d) ms (Postgres and the guard run on)")
            queue.push(.thaw(target), at: time + d)
        case 7:
            var pairs = Set<[Int]>()
            for o in others { pairs.insert([target, o]); pairs.insert([o, target]) }
            let d = random.int(in: 1_000...10_000)
            stats.replicationCuts += 1
            note("cut replication to and from \(hostName(target)) for \(d) ms (Raft passes)")
            queue.push(.endFault(.heal(cut: network.cut(pairs, channels: [.wal]))), at: time + d)
        case 8:
            let lag = random.int(in: 100...3_000)
            hosts[target].pg.replicationLag = lag
            note("\(hostName(target)) replays \(lag) ms late")
            queue.push(.endFault(.replicationLag(target)), at: time + random.int(in: 2_000...10_000))
        default:
            if hosts.count == 5 && random.chance(0.5) {
                // A split into two and three hosts.
                var side = Set([target])
                while side.count < 2 { side.insert(random.int(in: 0...(hosts.count - 1))) }
                var pairs = Set<[Int]>()
                for a in side { for b in Set(hosts.indices).subtracting(side) { pairs.insert([a, b]); pairs.insert([b, a]) } }
                let d = random.int(in: 500...8_000)
                stats.partitions += 1
                note("split \(side.sorted().map(hostName)) from the rest for \(d) ms")
                queue.push(.endFault(.heal(cut: network.cut(pairs))), at: time + d)
            } else {
                let extra = random.int(in: 50...400)
                network.extraDelay[target] = extra
                note("\(hostName(target))'s link is \(extra) ms slower")
                queue.push(.endFault(.linkDelay(target)), at: time + random.int(in: 1_000...5_000))
            }
        }
    }

    mutating func endFault(_ end: FaultEnd) {
        switch end {
        case .restart(let h):
            if !hosts[h].hostUp { restartHost(h) }
        case .heal(let id):
            network.heal(id)
        case .replicationLag(let h):
            hosts[h].pg.replicationLag = 0
        case .linkDelay(let h):
            network.extraDelay[h] = nil
        }
    }

    /// The whole host stops at once: the agent process, the guard and Postgres.
    mutating func crashHost(_ h: Int, downtime: Int?) {
        stats.hostCrashes += 1
        note("crash host \(hostName(h))\(downtime.map { " for \($0) ms" } ?? "")")
        killPostgres(h, "host crash")
        hosts[h].hostUp = false
        hosts[h].raft = nil
        hosts[h].agentEpoch += 1
        hosts[h].pausedUntil = nil
        hosts[h].agentFrozenUntil = nil
        hosts[h].fenceArmedTerm = nil
        hosts[h].guardArmed = false
        hosts[h].guardDeadline = nil
        hosts[h].guardGeneration += 1
        if let d = downtime { queue.push(.endFault(.restart(h)), at: time + d) }
    }

    mutating func restartHost(_ h: Int) {
        hosts[h].hostUp = true
        hosts[h].pg.process = .stopped
        hosts[h].pg.promoting = false
        hosts[h].pg.stream = nil
        hosts[h].pg.senders = [:]
        note("host \(hostName(h)) is back")
        startAgent(h)
    }

    /// A paused host runs again: the runtime delivers the ticks the stall missed, the lease fence
    /// and the guard look at the clock first, then everything that waited runs.
    mutating func resumeHost(_ h: Int) {
        guard let until = hosts[h].pausedUntil, time >= until else { return }
        hosts[h].pausedUntil = nil
        note("resume host \(hostName(h))")
        catchUp(h)
        guardCheck(h)
        resumeDeferredPlan(h)
    }

    mutating func thawAgent(_ h: Int) {
        guard let until = hosts[h].agentFrozenUntil, time >= until else { return }
        hosts[h].agentFrozenUntil = nil
        note("thaw the agent on \(hostName(h))")
        catchUp(h)
        resumeDeferredPlan(h)
    }

    /// Missed ticks first (the runtime reads a monotonic clock), then the fence's check.
    mutating func catchUp(_ h: Int) {
        guard hosts[h].agentRuns(at: time) else { return }
        let now = hosts[h].local(time)
        while now - hosts[h].lastTickLocal >= Double(Self.tickMs) {
            hosts[h].raft!.tick()
            hosts[h].lastTickLocal += Double(Self.tickMs)
        }
        processReady(h)
        fenceCheck(h)
    }
}
