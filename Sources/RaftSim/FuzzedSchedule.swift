/// Turns arbitrary bytes (a fuzzer's input) into a simulation with a fault schedule, so a
/// coverage-guided fuzzer can search for fault sequences that break a property.
///
/// Layout: the first 8 bytes are the seed (little-endian; missing bytes count as zero).
/// Every following group of 4 bytes is one fault: a time gap (byte × 4 time units after the
/// previous fault), a kind, and two parameters. Incomplete trailing groups are ignored, so
/// every input is valid.
public enum FuzzedSchedule {
    /// Simulation options for `bytes`: `nodes` voters, faults only from the schedule,
    /// standard network noise otherwise.
    public static func options(from bytes: [UInt8], nodes: Int = 3) -> SimulationOptions {
        var seed: UInt64 = 0
        for (i, b) in bytes.prefix(8).enumerated() { seed |= UInt64(b) << (8 * UInt64(i)) }
        var options = SimulationOptions(seed: seed)
        options.nodes = nodes
        // Short runs, so a fuzzer can try many schedules: ~1,800-4,000 time units, two
        // clients on two keys (the linearizability check stays cheap). The fault-free tail
        // stays long enough for a follower with small windows to catch up.
        options.healSteps = 1_500
        options.clients = 2
        options.keys = 2
        options.profileName = "standard"
        var schedule: [ScheduledFault] = []
        var at = 0
        var rest = bytes.dropFirst(8)
        let slots = nodes + Simulation.spares
        while rest.count >= 4 {
            let g = Array(rest.prefix(4))
            rest = rest.dropFirst(4)
            at += Int(g[0]) * 4
            let a = 1 + Int(g[2]) % slots
            let b = 1 + Int(g[3]) % slots
            let length = 20 + Int(g[3]) * 4
            let fault: Fault
            switch g[1] % 14 {
            case 0: fault = .crash(a, midReady: g[3] & 1 == 1)
            case 1: fault = .restart(a)
            case 2: fault = .pause(a, length: length)
            case 3:
                let mask = Int(g[2])
                let left = (1...slots).filter { mask & (1 << ($0 - 1)) != 0 }
                let right = (1...slots).filter { mask & (1 << ($0 - 1)) == 0 }
                fault = left.isEmpty || right.isEmpty ? .heal : .split(left, right, length: length)
            case 4: fault = .deafen(a, length: length)
            case 5: fault = .mute(a, length: length)
            case 6: fault = a == b ? .heal : .cutLink(a, b, length: length)
            case 7: fault = .heal
            case 8: fault = .membershipChange
            case 9: fault = .transfer(to: a)
            case 10: fault = a == b ? .replayOldMessage : .resetConnection(a, b, reported: g[3] & 1 == 1)
            case 11: fault = .nudgeElection(a)
            case 12: fault = .loseDisk(a)
            default: fault = .replayOldMessage
            }
            schedule.append(ScheduledFault(at: at, fault: fault))
        }
        options.steps = max(300, min(at + 300, 2_500))
        options.schedule = schedule
        return options
    }
}
