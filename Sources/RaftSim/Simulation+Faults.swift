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
        if random.chance(p.replayOld) { apply(.replayOldMessage) }
        if random.chance(p.connectionReset), let l = leaderSlot {
            let others = all.filter { $0 != l }
            apply(.resetConnection(l, random.pick(others), reported: random.chance(0.5)))
        }
        if random.chance(p.electionNudge) {
            let followers = upSlots.filter { $0 != leaderSlot }
            if !followers.isEmpty { apply(.nudgeElection(random.pick(followers))) }
        }
        // Like a crash, a lost disk takes a node down: keep a majority of voters up.
        if random.chance(p.diskLoss) && nodes.count - upSlots.count < options.nodes / 2 {
            // Often a learner: it comes back empty under its old id, and the leader must
            // notice that its log went backwards.
            let learners = leaderSlot.flatMap { nodes[$0 - 1].raft?.membership.learners.map { Int($0.rawValue) }.sorted() } ?? []
            let victim = !learners.isEmpty && random.chance(0.5) ? random.pick(learners) : random.pick(all)
            // A voter is replaced through membership, which needs a working majority of the
            // rest: a leader other than the victim, at least three voters, no membership
            // change under way, and one replacement at a time. (Losing a voter's disk while a
            // removal is uncommitted can leave the cluster needing that very voter.)
            let leader = leaderSlot.flatMap { nodes[$0 - 1].raft }
            let voters = leader?.membership.voters ?? []
            let settled = leader.map { $0.membership(atIndex: $0.commitIndex) == $0.membership } ?? false
            let isVoter = nodes.contains { $0.raft?.membership.voters.contains(NodeID(UInt64(victim))) == true }
            // Every other voter up, voting (not rejoining) and caught up: losing a voter while
            // another one cannot vote is two faults, which three voters do not survive.
            let othersHealthy = leader.map { l in
                voters.filter { Int($0.rawValue) != victim && $0 != l.id }.allSatisfy { v in
                    let other = nodes[Int(v.rawValue) - 1].raft
                    return other != nil && !other!.isRejoining && (l.status.followers[v]?.match ?? .zero) >= l.commitIndex
                }
            } ?? false
            if !isVoter || (voters.count >= 3 && settled && othersHealthy && leaderSlot != victim
                            && !nodes.contains(where: \.awaitingReplacement)) {
                apply(.loseDisk(victim))
            }
        }
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
            guard nodes.indices.contains(s - 1), !nodes[s - 1].isUp, !nodes[s - 1].awaitingReplacement else { return }
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
            if !healing { proposeMembershipChange() }
        case .resetConnection(let a, let b, let reported):
            let lost = network.reset(a, b)
            note("connection \(a)-\(b) resets, \(lost) messages lost\(reported ? ", reported" : "")")
            if reported, nodes.indices.contains(a - 1), nodes[a - 1].isUp {
                nodes[a - 1].raft!.reportUnreachable(NodeID(UInt64(b)))
            }
        case .nudgeElection(let s):
            guard nodes.indices.contains(s - 1), nodes[s - 1].isUp, !nodes[s - 1].isPaused(at: time) else { return }
            if (try? nodes[s - 1].raft!.campaign()) != nil {
                stats.electionNudges += 1
                note("election timer of \(s) fires")
            }
        case .loseDisk(let s):
            loseDisk(s - 1)
        case .replayOldMessage:
            if let m = network.replayOne(now: time, random: &random) { note("replay \(m)") }
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
        let outside = nodes.filter { !m.contains(NodeID(UInt64($0.slot))) && !$0.awaitingReplacement }.map(\.slot)
        let minVoters = max(3, options.nodes - 1), maxVoters = options.nodes + 1
        let change: ConfigChange
        if let gone = nodes.first(where: { $0.awaitingReplacement && m.contains(NodeID(UInt64($0.slot))) }) {
            // A member that lost its disk is removed first, whatever the count.
            change = .remove(NodeID(UInt64(gone.slot)))
        } else if let learner = m.learners.sorted().first, m.voters.count < maxVoters, random.chance(0.6) {
            change = .addVoter(learner)
        } else if m.voters.count < maxVoters, !outside.isEmpty, m.voters.count <= minVoters || random.chance(0.5) {
            let n = NodeID(UInt64(random.pick(outside)))
            change = random.chance(0.6) ? .addLearner(n) : .addVoter(n)
        } else if !m.learners.isEmpty && random.chance(0.5) {
            change = .remove(random.pick(m.learners.sorted()))
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

    /// A node loses its disk (or its storage finds a damaged record, and refuses to start as
    /// `DiskStorage` does). A node that is not a voter anywhere comes back empty under the
    /// same id (the leader must notice its log went backwards). A voter must not: it forgot
    /// its vote and what it acknowledged. It stays down until the cluster removed it, then
    /// starts empty as a new node that membership changes may add again.
    mutating func loseDisk(_ i: Int) {
        let id = NodeID(UInt64(nodes[i].slot))
        let voterSomewhere = nodes.contains { $0.raft?.membership.voters.contains(id) == true }
            || nodes[i].storage.latestSnapshot.metadata.membership.voters.contains(id)
        if nodes[i].isUp {
            nodes[i].crash()
            checker.forgetIncarnation(nodes[i].slot)
        }
        nodes[i].storage = MemoryStorage()
        nodes[i].diskGeneration += 1
        nodes[i].config.rejoinAfterDataLoss = true
        stats.disksLost += 1
        if voterSomewhere {
            nodes[i].awaitingReplacement = true
            note("\(nodes[i].slot) loses its disk; down until the cluster removes it")
        } else {
            note("\(nodes[i].slot) loses its disk; restarts empty")
            agenda.push(.restart(nodes[i].slot), at: time + 1 + random.int(in: 0...50))
        }
    }

    /// Removes members that lost their disk and restarts them empty once the removal is
    /// committed on the leader.
    mutating func replaceNodesThatLostTheirDisk() {
        guard nodes.contains(where: \.awaitingReplacement), time % Self.ticksEvery == 0,
              let l = leaderSlot, let raft = nodes[l - 1].raft else { return }
        for i in nodes.indices where nodes[i].awaitingReplacement {
            let id = NodeID(UInt64(nodes[i].slot))
            if raft.membership.contains(id) {
                proposeMembershipChange()
            } else if let committed = raft.membership(atIndex: raft.commitIndex), !committed.contains(id) {
                nodes[i].awaitingReplacement = false
                apply(.restart(nodes[i].slot))
            }
        }
    }

    /// In the healing phase: a learner loses its disk under a leader that will stay, so the
    /// liveness check also covers a follower whose log went backwards (the leader must notice
    /// and repair it). Adds a learner first when the leader has none.
    mutating func loseALearnersDiskWhileHealing() {
        let t = time - options.steps
        let first = options.healSteps / 7, second = options.healSteps / 3
        guard t == first || t == second, let l = leaderSlot, var raft = nodes[l - 1].raft else { return }
        let m = raft.membership
        if let learner = m.learners.sorted().first.map({ Int($0.rawValue) }), nodes[learner - 1].isUp {
            loseDisk(learner - 1)
        } else if t == first, let outside = nodes.first(where: { $0.isUp && !m.contains(NodeID(UInt64($0.slot))) }) {
            if (try? raft.proposeConfigChange(.addLearner(NodeID(UInt64(outside.slot))))) != nil {
                nodes[l - 1].raft = raft
                note("leader \(l) adds learner \(outside.slot) while healing")
            }
        }
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
