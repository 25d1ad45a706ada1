import ClusterStore
import HACore
import RaftCore
import RaftSim

/// Where a message travels: the parts of the network a fault may cut separately.
enum Channel: Hashable, Sendable {
    /// Raft's peer connections.
    case raft
    /// The agents' client protocol: store requests and the status round.
    case agent
    /// Postgres streaming replication (the WAL receivers' connections).
    case wal
    /// Client connections to Postgres.
    case client
}

/// A message between two parties: hosts by index, the clients as `HANetwork.clientSide`.
struct Envelope {
    var from: Int
    var to: Int
    var channel: Channel
    var payload: Payload

    enum Payload {
        case raft(Message)
        case storeRequest(id: UInt64, operation: StoreCommand.Operation)
        case storeReply(id: UInt64, ok: Bool)
        case statusRequest(round: Int)
        case statusAnswer(round: Int, MemberStatus)
        case commit(client: Int, operation: UInt64)
        case commitReply(client: Int, operation: UInt64, ok: Bool)
    }
}

/// The simulated network: delays, occasional slow messages, and cuts — whole hosts, one
/// direction only, or only one channel (replication) — checked at delivery, so a cut also
/// stops what was already in flight.
struct HANetwork {
    /// The clients' side of every client connection.
    static let clientSide = -1

    struct Cut: Hashable {
        var id: Int
        /// Directed (from, to) pairs that lose messages.
        var pairs: Set<[Int]>
        /// The channels cut (all, if empty).
        var channels: Set<Channel>
    }

    private(set) var cuts: [Cut] = []
    private var nextCut = 1
    /// Extra one-way delay per host (a slow link), in ms.
    var extraDelay: [Int: Int] = [:]

    func isCut(_ from: Int, _ to: Int, _ channel: Channel) -> Bool {
        cuts.contains { ($0.channels.isEmpty || $0.channels.contains(channel)) && $0.pairs.contains([from, to]) }
    }

    /// Adds a cut; returns its id.
    mutating func cut(_ pairs: Set<[Int]>, channels: Set<Channel> = []) -> Int {
        let id = nextCut
        nextCut += 1
        cuts.append(Cut(id: id, pairs: pairs, channels: channels))
        return id
    }

    mutating func heal(_ id: Int) { cuts.removeAll { $0.id == id } }

    mutating func healAll() {
        cuts = []
        extraDelay = [:]
    }

    /// The delay for one message from `from` to `to`.
    func delay(_ from: Int, _ to: Int, random: inout SimRandom) -> Int {
        var d = random.int(in: 1...4)
        if random.chance(0.01) { d += random.int(in: 20...200) }
        return d + (extraDelay[from] ?? 0) + (extraDelay[to] ?? 0)
    }
}

extension HASimulation {
    /// Sends a message; it is delivered after the network's delay unless a cut stops it then.
    mutating func send(_ from: Int, _ to: Int, _ channel: Channel, _ payload: Envelope.Payload) {
        let d = network.delay(from, to, random: &random)
        queue.push(.deliver(Envelope(from: from, to: to, channel: channel, payload: payload)), at: time + d)
    }

    mutating func deliver(_ e: Envelope) {
        if network.isCut(e.from, e.to, e.channel) { return }
        if e.to == HANetwork.clientSide {
            if case .commitReply(let c, let op, let ok) = e.payload { clientReply(c, op, ok: ok) }
            return
        }
        let h = e.to
        guard hosts[h].hostUp else { return }
        if let until = hosts[h].pausedUntil {
            queue.push(.deliver(e), at: max(until, time))
            return
        }
        switch e.payload {
        case .commit(let client, let op):
            commitArrived(h, from: client, op)
            return
        default: break
        }
        // Everything else is read by the agent process.
        guard hosts[h].raft != nil else { return }
        if let until = hosts[h].agentFrozenUntil {
            queue.push(.deliver(e), at: max(until, time))
            return
        }
        switch e.payload {
        case .raft(let m):
            hosts[h].raft!.step(m)
            processReady(h)
        case .storeRequest(let id, let operation):
            storeRequestArrived(h, from: e.from, id, operation)
        case .storeReply(let id, let ok):
            storeCompleted(h, id, ok: ok)
        case .statusRequest(let round):
            let status = observedStatus(h)
            send(h, e.from, .agent, .statusAnswer(round: round, status))
        case .statusAnswer(let round, let status):
            statusAnswerArrived(h, round, status)
        case .commit, .commitReply:
            break
        }
    }
}
