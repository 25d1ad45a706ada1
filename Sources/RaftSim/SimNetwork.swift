import RaftCore

/// The simulated network: delays, loss, duplication, reordering, and partitions that also
/// cut messages already in flight (they are checked at delivery).
struct SimNetwork {
    struct Link: Hashable {
        var from: NodeSlot
        var to: NodeSlot
    }

    private(set) var inFlight = EventQueue<Message>()
    /// Directed links that currently lose everything.
    private(set) var blocked: Set<Link> = []
    var profile: FaultProfile
    private(set) var sent = 0
    private(set) var dropped = 0
    private(set) var duplicated = 0
    private(set) var replayed = 0
    private(set) var resets = 0
    /// The last messages sent, for replaying one late.
    private var recent: [Message] = []
    private var recentNext = 0
    static let recentCapacity = 400

    init(profile: FaultProfile) { self.profile = profile }

    mutating func send(_ m: Message, now: Int, random: inout SimRandom) {
        sent += 1
        if random.chance(profile.drop) {
            dropped += 1
            return
        }
        let copies = random.chance(profile.duplicate) ? 2 : 1
        if copies == 2 { duplicated += 1 }
        for _ in 0..<copies {
            var delay = random.int(in: profile.minDelay...max(profile.minDelay, profile.maxDelay))
            if random.chance(profile.longDelay) { delay += random.int(in: 50...400) }
            if Self.isResponse(m), random.chance(profile.responseLongDelay) {
                delay += random.int(in: profile.responseDelayRange)
            }
            inFlight.push(m, at: now + delay)
        }
        if recent.count < Self.recentCapacity {
            recent.append(m)
        } else {
            recent[recentNext] = m
            recentNext = (recentNext + 1) % Self.recentCapacity
        }
    }

    static func isResponse(_ m: Message) -> Bool {
        switch m.body {
        case .appendResponse, .heartbeatResponse, .voteResponse, .preVoteResponse: return true
        default: return false
        }
    }

    /// Delivers again, at `now`, one of the last messages sent (a stale message turning up
    /// late). Returns it, for the trace.
    mutating func replayOne(now: Int, random: inout SimRandom) -> Message? {
        guard !recent.isEmpty else { return nil }
        let m = recent[random.int(in: 0...(recent.count - 1))]
        replayed += 1
        inFlight.push(m, at: now)
        return m
    }

    /// A connection between `a` and `b` resets: every message in flight between them, both
    /// ways, is lost. Returns how many.
    @discardableResult
    mutating func reset(_ a: NodeSlot, _ b: NodeSlot) -> Int {
        resets += 1
        let lost = inFlight.removeAll { m in
            let f = Int(m.from.rawValue), t = Int(m.to.rawValue)
            return (f == a && t == b) || (f == b && t == a)
        }
        dropped += lost
        return lost
    }

    /// The next message due by `now` whose link is open; messages on cut links are dropped.
    mutating func nextDue(_ now: Int) -> Message? {
        while let m = inFlight.popDue(now) {
            if blocked.contains(Link(from: Int(m.from.rawValue), to: Int(m.to.rawValue))) {
                dropped += 1
                continue
            }
            return m
        }
        return nil
    }

    mutating func cut(from: NodeSlot, to: NodeSlot) { blocked.insert(Link(from: from, to: to)) }

    mutating func heal() { blocked = [] }

    var isPartitioned: Bool { !blocked.isEmpty }

    /// Turns off every fault (the network keeps its normal delays).
    mutating func calm() {
        profile.drop = 0
        profile.duplicate = 0
        profile.longDelay = 0
        profile.responseLongDelay = 0
        heal()
    }
}

extension SimNetwork {
    /// Puts a message back to be delivered at `at` (a paused receiver).
    mutating func requeue(_ m: Message, at: Int) {
        inFlight.push(m, at: at)
    }
}
