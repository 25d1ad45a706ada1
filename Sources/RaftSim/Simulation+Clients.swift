import RaftCore

/// The client workload: puts, gets and compare-and-sets on a few keys, each recorded with
/// invocation and completion times for the linearizability check.
extension Simulation {
    /// How long a client waits before it gives up and records the outcome as unknown.
    static let clientTimeout = 15 * ticksEvery

    mutating func runClients() {
        if !healing && time >= quietUntil && random.chance(options.faults.quiet) {
            quietUntil = time + random.int(in: options.faults.quietLength)
        }
        let quiet = time < quietUntil
        for c in clients.indices {
            if let w = clients[c].waiting, time > w.deadline {
                history.complete(w.op, output: .unknown, at: historyTime())
                stats.operationsUnknown += 1
                clients[c].waiting = nil
                clients[c].leaderGuess = random.int(in: 1...nodes.count)
            }
            if !quiet && clients[c].waiting == nil && random.chance(options.operationRate) {
                startOperation(c)
            }
        }
    }

    mutating func startOperation(_ c: Int) {
        let target = clients[c].leaderGuess
        let i = target - 1
        guard nodes[i].isUp, !nodes[i].isPaused(at: time) else {
            clients[c].leaderGuess = random.int(in: 1...nodes.count)
            return
        }
        clients[c].counter += 1
        let key = "k\(random.int(in: 0...(options.keys - 1)))"
        let value = "c\(c).\(clients[c].counter)"
        let tag = nextTag
        nextTag += 1
        let roll = random.int(in: 0...9)
        do {
            if roll < 4 {
                let input = KVInput.get(key: key)
                if random.chance(0.5) {
                    try nodes[i].raft!.readIndex(requestID: tag)
                } else {
                    try nodes[i].raft!.leaseRead(requestID: tag)
                }
                let op = history.invoke(client: c, input: input, at: historyTime())
                nodes[i].pendingReads[tag] = (c, op, key, nil)
                clients[c].waiting = (op, tag, time + Self.clientTimeout)
            } else {
                let action: KVCommand.Action
                let input: KVInput
                if roll < 7 {
                    action = .put(key: key, value: value)
                    input = .put(key: key, value: value)
                } else {
                    let expected = random.chance(0.8) ? clients[c].lastSeen[key] : nil
                    action = .compareAndSet(key: key, expected: expected, new: value)
                    input = .compareAndSet(key: key, expected: expected, new: value)
                }
                try nodes[i].raft!.propose(KVCommand(tag: tag, action: action).encoded())
                let op = history.invoke(client: c, input: input, at: historyTime())
                nodes[i].pendingWrites[tag] = (c, op)
                clients[c].waiting = (op, tag, time + Self.clientTimeout)
            }
        } catch .notLeader(let hint) {
            clients[c].leaderGuess = hint.map { Int($0.rawValue) } ?? random.int(in: 1...nodes.count)
        } catch {
            // Refused (transfer, overload): nothing happened; try again later.
        }
    }

    mutating func complete(client c: Int, op: OperationID, tag: UInt64, _ output: KVOutput, via slot: NodeSlot) {
        guard let w = clients[c].waiting, w.tag == tag else { return }  // the client gave up already
        history.complete(op, output: output, at: historyTime())
        stats.operationsOK += 1
        clients[c].waiting = nil
        clients[c].leaderGuess = slot
        if case .ok(.get(let v)) = output, let v {
            clients[c].lastSeen[history[op].input.key] = v
        }
        if case .ok(.compareAndSet(true)) = output, case .compareAndSet(let key, _, let new) = history[op].input {
            clients[c].lastSeen[key] = new
        }
        if case .ok(.put) = output, case .put(let key, let value) = history[op].input {
            clients[c].lastSeen[key] = value
        }
    }

    /// In the healing phase, keep offering one marker write to whoever leads until every
    /// voter applied it.
    mutating func driveProbe() {
        guard time % Self.ticksEvery == 0, let l = leaderSlot, nodes[l - 1].kv.get(Self.probeKey) == nil else { return }
        let command = KVCommand(tag: nextTag, action: .put(key: Self.probeKey, value: "\(time)"))
        nextTag += 1
        try? nodes[l - 1].raft!.propose(command.encoded())
    }
}
