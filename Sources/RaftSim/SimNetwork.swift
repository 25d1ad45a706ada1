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
            inFlight.push(m, at: now + delay)
        }
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
        heal()
    }
}

extension SimNetwork {
    /// Puts a message back to be delivered at `at` (a paused receiver).
    mutating func requeue(_ m: Message, at: Int) {
        inFlight.push(m, at: at)
    }
}
