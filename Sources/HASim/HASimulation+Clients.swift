/// The clients: a multi-host connection string (`target_session_attrs=read-write`) tries the
/// hosts in order and keeps the first that accepts writes; one commit is outstanding at a time.
extension HASimulation {
    static let connectTimeoutMs = 1_000
    static let commitTimeoutMs = 2_000

    mutating func clientTick(_ c: Int) {
        queue.push(.clientTick(c), at: time + random.int(in: 10...30))
        guard phase != .done, clients[c].outstanding == nil else { return }
        guard let h = clients[c].connectedTo else {
            if !clients[c].connecting {
                clients[c].connecting = true
                clientConnect(c, 0)
            }
            return
        }
        let op = nextOperation
        nextOperation += 1
        clients[c].outstanding = (op, h, time)
        send(HANetwork.clientSide, h, .client, .commit(client: c, operation: op))
        queue.push(.clientTimeout(c, operation: op), at: time + Self.commitTimeoutMs)
    }

    /// Tries host `attempt` of the list: connected if it is reachable and accepts writes; else
    /// the next host (after a round trip, or the connect timeout for an unreachable host).
    mutating func clientConnect(_ c: Int, _ attempt: Int) {
        guard attempt < hosts.count else {
            clients[c].connecting = false
            return
        }
        let h = attempt
        let open = !network.isCut(HANetwork.clientSide, h, .client) && !network.isCut(h, HANetwork.clientSide, .client)
        if open && hosts[h].hostRuns(at: time) {
            if hosts[h].pg.isRunningPrimary && !hosts[h].pg.promoting {
                clients[c].connectedTo = h
                clients[c].connecting = false
                return
            }
            queue.push(.clientConnect(c, attempt: attempt + 1), at: time + 2)
        } else {
            queue.push(.clientConnect(c, attempt: attempt + 1), at: time + Self.connectTimeoutMs)
        }
    }

    mutating func clientReply(_ c: Int, _ op: UInt64, ok: Bool) {
        guard clients[c].outstanding?.op == op else { return }
        clients[c].outstanding = nil
        if !ok {
            stats.commitsUnknown += 1
            clients[c].connectedTo = nil
        }
    }

    mutating func clientTimedOut(_ c: Int, _ op: UInt64) {
        guard clients[c].outstanding?.op == op else { return }
        clients[c].outstanding = nil
        clients[c].connectedTo = nil
        stats.commitsUnknown += 1
    }
}
