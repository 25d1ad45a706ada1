import RaftCore

/// Injecting faults: at random with the profile's probabilities, or from a schedule.
extension Simulation {
    mutating func runAgenda() {
        while let f = agenda.popDue(time) {
            apply(f)
        }
        if let schedule = options.schedule, !healing {
            while scheduleIndex < schedule.count && schedule[scheduleIndex].at <= time {
                apply(schedule[scheduleIndex].fault)
                scheduleIndex += 1
            }
        }
        for i in nodes.indices {
            if let until = nodes[i].pausedUntil, until <= time { resume(i) }
        }
    }

    var upSlots: [NodeSlot] { nodes.filter { $0.isUp }.map(\.slot) }

    var leaderSlot: NodeSlot? {
        var best: (NodeSlot, Term)?
        for n in nodes {
            guard let r = n.raft, r.currentRole == .leader, !n.isPaused(at: time) else { continue }
            if best == nil || r.currentTerm > best!.1 { best = (n.slot, r.currentTerm) }
        }
        return best?.0
    }

    mutating func injectFaults() {
        guard options.schedule == nil else { return }
        let p = options.faults
        let all = nodes.map(\.slot)
        if !network.isPartitioned && random.chance(p.partition) {
            let length = random.int(in: p.partitionLength)
            switch random.int(in: 0...5) {
            case 0:
                let victim = leaderSlot ?? random.pick(all)
                apply(.split([victim], all.filter { $0 != victim }, length: length))
            case 1:
                var a: [NodeSlot] = [], b: [NodeSlot] = []
                for s in all { if random.chance(0.5) { a.append(s) } else { b.append(s) } }
                if !a.isEmpty && !b.isEmpty { apply(.split(a, b, length: length)) }
            case 2:
                apply(.deafen(random.pick(all), length: length))
            case 3, 4:
                // Often the link between the leader and one follower.
                let a = leaderSlot ?? random.pick(all)
                let b = random.pick(all.filter { $0 != a })
                apply(.cutLink(a, b, length: length))
            default:
                apply(.mute(leaderSlot ?? random.pick(all), length: length))
            }
        }
        let up = upSlots
        // At most a minority of the voters down at once, so the cluster can make progress.
        if random.chance(p.crash) && nodes.count - up.count < options.nodes / 2 {
            if !up.isEmpty {
                let victim = random.chance(0.5) ? (leaderSlot ?? random.pick(up)) : random.pick(up)
                apply(.crash(victim, midReady: random.chance(p.crashMidReady)))
            }
        }
        if random.chance(p.pause), !up.isEmpty {
            let victim = random.chance(0.5) ? (leaderSlot ?? random.pick(up)) : random.pick(up)
            apply(.pause(victim, length: random.int(in: p.pauseLength)))
        }
        if random.chance(p.membershipChange) { apply(.membershipChange) }
        if random.chance(p.transfer), let l = leaderSlot, let r = nodes[l - 1].raft {
            let others = r.membership.voters.map { Int($0.rawValue) }.filter { $0 != l }.sorted()
            if !others.isEmpty { apply(.transfer(to: random.pick(others))) }
        }
    }

    mutating func apply(_ fault: Fault) {
        switch fault {
        case .crash(let s, let mid):
            guard nodes.indices.contains(s - 1), nodes[s - 1].isUp else { return }
            if mid {
                nodes[s - 1].crashAtNextReady = true
                note("crash \(s) at its next ready")
            } else {
                crash(s - 1, reason: "between readies")
            }
        case .restart(let s):
            guard nodes.indices.contains(s - 1), !nodes[s - 1].isUp else { return }
            do {
                try nodes[s - 1].start(at: time)
                note("restart \(s)")
            } catch {
                fail(Violation(property: "Restart", time: time, detail: "node \(s) could not restart from its storage: \(error)"))
            }
        case .pause(let s, let length):
            guard nodes.indices.contains(s - 1), nodes[s - 1].isUp, nodes[s - 1].pausedUntil == nil else { return }
            nodes[s - 1].pausedUntil = time + max(1, length)
            stats.pauses += 1
            note("pause \(s) for \(length)")
        case .split(let a, let b, let length):
            for x in a { for y in b { network.cut(from: x, to: y); network.cut(from: y, to: x) } }
            scheduleHeal(after: length, fault)
        case .deafen(let s, let length):
            for o in nodes.map(\.slot) where o != s { network.cut(from: o, to: s) }
            scheduleHeal(after: length, fault)
        case .mute(let s, let length):
            for o in nodes.map(\.slot) where o != s { network.cut(from: s, to: o) }
            scheduleHeal(after: length, fault)
        case .cutLink(let a, let b, let length):
            network.cut(from: a, to: b)
            network.cut(from: b, to: a)
            scheduleHeal(after: length, fault)
        case .heal:
            if network.isPartitioned { note("heal network") }
            network.heal()
        case .membershipChange:
            proposeMembershipChange()
        case .transfer(let target):
            guard let l = leaderSlot, target != l else { return }
            do {
                try nodes[l - 1].raft!.transferLeadership(to: NodeID(UInt64(target)))
                stats.transfers += 1
                note("leader \(l) transfers to \(target)")
            } catch {}
        }
    }

    mutating func scheduleHeal(after length: Int, _ fault: Fault) {
        stats.partitions += 1
        note("\(fault)")
        agenda.push(.heal, at: time + max(1, length))
    }

    mutating func proposeMembershipChange() {
        guard let l = leaderSlot, var raft = nodes[l - 1].raft else { return }
        let m = raft.membership
        let outside = nodes.map(\.slot).filter { !m.contains(NodeID(UInt64($0))) }
        let minVoters = max(3, options.nodes - 1), maxVoters = options.nodes + 1
        let change: ConfigChange
        if let learner = m.learners.sorted().first {
            change = .addVoter(learner)
        } else if m.voters.count < maxVoters, !outside.isEmpty, m.voters.count == minVoters || random.chance(0.5) {
            let n = NodeID(UInt64(random.pick(outside)))
            change = random.chance(0.5) ? .addLearner(n) : .addVoter(n)
        } else if m.voters.count > minVoters {
            change = .remove(random.pick(m.voters.sorted()))
        } else {
            return
        }
        do {
            try raft.proposeConfigChange(change)
            nodes[l - 1].raft = raft
            stats.membershipChanges += 1
            note("leader \(l) proposes \(change)")
        } catch {}
    }

    /// Stops all faults: restart crashed nodes, wake paused ones, heal and calm the network.
    mutating func startHealing() {
        healing = true
        network.calm()
        note("faults stop; healing")
        for i in nodes.indices {
            nodes[i].crashAtNextReady = false
            if nodes[i].pausedUntil != nil { resume(i) }
            if !nodes[i].isUp { apply(.restart(nodes[i].slot)) }
        }
    }
}
