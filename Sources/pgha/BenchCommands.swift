import ArgumentParser
import HACore
import Foundation
import NIOCore
import NIOPosix
import PGNode
import RaftCore

/// `pgha bench …`: benchmarks that report figures (they assert nothing).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the cluster store (write throughput and latency, leader failover) and Postgres failover.",
        subcommands: [BenchStore.self, BenchFailover.self, BenchPostgresFailover.self]
    )
}

/// Latency samples and what they add up to.
struct LatencySummary {
    var samples: [Duration]
    var elapsed: Duration

    var count: Int { samples.count }
    var throughput: Double { Double(count) / max(elapsed.seconds, 1e-9) }

    func percentile(_ p: Double) -> Duration {
        guard !samples.isEmpty else { return .zero }
        let sorted = samples.sorted()
        let i = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
        return sorted[i]
    }

    static func ms(_ d: Duration) -> String {
        let v = d.seconds * 1000
        return v < 10 ? String(format: "%.2f", v) : String(format: "%.1f", v)
    }
}

/// `pgha bench store`: concurrent clients writing values against a running cluster.
struct BenchStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Write throughput and latency against a running store cluster.",
        discussion: "Each client writes one key at a time (a put of --value-size bytes to one of --keys keys) and waits for it to commit before the next. Prints one line of figures; with --json a JSON object instead."
    )

    @OptionGroup var options: StoreClientOptions
    @Option(help: "Concurrent clients (each its own connection).") var clients: Int = 1
    @Option(help: "Seconds to run (after a one-second warm-up).") var duration: Double = 10
    @Option(help: "Value size in bytes.") var valueSize: Int = 64
    @Option(help: "Distinct keys written.") var keys: Int = 1000
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard clients >= 1, clients <= 1024 else { throw ValidationError("--clients must be in 1...1024") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard valueSize >= 0, valueSize <= KeyValueStore.maxValueBytes else { throw ValidationError("--value-size must be in 0...\(KeyValueStore.maxValueBytes)") }
        guard keys >= 1 else { throw ValidationError("--keys must be positive") }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var pool: [StoreClient] = []
        for _ in 0..<clients { pool.append(try options.makeClient(group: group).0) }
        let value = [UInt8](repeating: 0x61, count: valueSize)
        let clock = ContinuousClock()
        // Warm up: connections and leader discovery.
        let warmEnd = clock.now + .seconds(1)
        for c in pool { _ = try await c.put("bench/warmup", value) }
        while clock.now < warmEnd { _ = try await pool[0].put("bench/warmup", value) }

        let start = clock.now
        let end = start + .milliseconds(Int64(duration * 1000))
        let keys = self.keys
        let stride = pool.count
        var all: [Duration] = []
        var errors = 0
        try await withThrowingTaskGroup(of: ([Duration], Int).self) { tasks in
            for (i, c) in pool.enumerated() {
                tasks.addTask { [c, i, value, end, keys, stride] in
                    var samples: [Duration] = []
                    var failures = 0
                    var n = i
                    while clock.now < end {
                        let t0 = clock.now
                        do {
                            _ = try await c.put("bench/k\(n % keys)", value)
                            samples.append(clock.now - t0)
                        } catch {
                            failures += 1
                        }
                        n += stride
                    }
                    return (samples, failures)
                }
            }
            for try await (s, f) in tasks {
                all += s
                errors += f
            }
        }
        let summary = LatencySummary(samples: all, elapsed: clock.now - start)
        for c in pool { await c.close() }
        if json {
            print("{\"system\":\"pgha\",\"clients\":\(clients),\"value_size\":\(valueSize),\"writes\":\(summary.count),\"errors\":\(errors),\"writes_per_s\":\(Int(summary.throughput)),\"p50_ms\":\(LatencySummary.ms(summary.percentile(0.5))),\"p99_ms\":\(LatencySummary.ms(summary.percentile(0.99))),\"max_ms\":\(LatencySummary.ms(summary.percentile(1.0)))}")
        } else {
            print("clients \(clients), \(valueSize)-byte values: \(summary.count) writes in \(String(format: "%.1f", summary.elapsed.seconds)) s = \(Int(summary.throughput)) writes/s, p50 \(LatencySummary.ms(summary.percentile(0.5))) ms, p99 \(LatencySummary.ms(summary.percentile(0.99))) ms, max \(LatencySummary.ms(summary.percentile(1.0))) ms, \(errors) errors")
        }
    }
}

/// `pgha bench failover`: kill -9 the leader of a local three-node cluster and time the first
/// successful write after it, several times.
struct BenchFailover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Time from kill -9 of the store leader to the first successful write (local 3-node cluster).",
        discussion: "Starts three `pgha store run` processes on free loopback ports in a temporary directory (100 ms ticks, election timeout 1-2 s, as in production), and for each round kills the leader with SIGKILL, writes in a loop until a write succeeds, records the time, restarts the killed node and waits until it caught up. Only processes it started are signalled; everything is removed at the end."
    )

    @Option(help: "Rounds.") var rounds: Int = 10
    @Option(help: "Tick length in milliseconds for the cluster.") var tickMs: Int = 100

    func run() async throws {
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let cluster = try LocalStoreCluster(binary: binary, tickMilliseconds: tickMs)
        defer { cluster.tearDown() }
        for i in 1...cluster.size { try cluster.start(i) }
        let group = MultiThreadedEventLoopGroup.singleton
        let client = cluster.client(group: group)
        let clock = ContinuousClock()
        var times: [Duration] = []
        for round in 1...rounds {
            guard let leader = await waitForLeader(client, cluster: cluster, timeout: .seconds(30)) else {
                throw ValidationError("no leader emerged; logs in \(cluster.directory)")
            }
            let rev = try await client.put("bench/before-\(round)", Array("x".utf8))
            _ = rev
            cluster.kill9(leader)
            let t0 = clock.now
            var attempt = 0
            while true {
                attempt += 1
                do {
                    _ = try await client.put("bench/after-\(round)", Array("y".utf8))
                    break
                } catch {
                    if clock.now - t0 > .seconds(30) { throw ValidationError("no write succeeded within 30 s after killing the leader") }
                }
            }
            let took = clock.now - t0
            times.append(took)
            print("round \(round): killed node \(leader), first write after \(LatencySummary.ms(took)) ms")
            try cluster.start(leader)
            // Let it rejoin before the next round.
            let last = try await client.put("bench/sync-\(round)", Array("z".utf8))
            let rejoinEnd = clock.now + .seconds(30)
            while clock.now < rejoinEnd {
                if let s = try? await client.status(of: NodeID(UInt64(leader))), s.applied.rawValue >= last { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let s = LatencySummary(samples: times, elapsed: .zero)
        print("kill -9 of the leader to first successful write over \(rounds) rounds: median \(LatencySummary.ms(s.percentile(0.5))) ms, min \(LatencySummary.ms(times.min() ?? .zero)) ms, max \(LatencySummary.ms(times.max() ?? .zero)) ms")
        await client.close()
    }

    func waitForLeader(_ client: StoreClient, cluster: LocalStoreCluster, timeout: Duration) async -> Int? {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            for n in 1...cluster.size {
                if let s = try? await client.status(of: NodeID(UInt64(n))), s.role == .leader, s.hasLease { return n }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}

/// `pgha bench pg-failover`: Postgres write-unavailability after kill -9 of the primary's agent,
/// or (`--switchover`) across a planned switchover; `--haproxy` writes through HAProxy.
struct BenchPostgresFailover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg-failover",
        abstract: "Kill -9 the primary's agent of a real three-agent cluster (or switch over), round after round; report write unavailability and rejoin time.",
        discussion: "A client writes every 20 ms through the libpq multi-host string (target_session_attrs=read-write), or through HAProxy with --haproxy. Reports per round and the median and maximum. Asserts nothing."
    )

    @Option(help: "Rounds (each kills the current primary's agent).") var rounds: Int = 10
    @Option(help: "First port (see pgha demo --port-base).") var portBase: Int = 25432
    @Option(help: "Folder for the members (default: a new temp folder, removed afterwards).") var dir: String?
    @Option(help: "synchronous_mode of the cluster: off (asynchronous), on (a commit waits for the synchronous standby) or quorum (ANY 1 of the standbys).")
    var syncMode: String = "off"
    @Flag(help: "Change the primary with a planned switchover (POST /switchover) instead of kill -9.") var switchover = false
    @Flag(help: "Write through HAProxy's read-write port (checked with OPTIONS /primary) instead of the multi-host string.")
    var haproxy = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be positive") }
        let directory = dir ?? "/tmp/pgha-bench-\(getpid())"
        var bench = PostgresFailoverBenchmark(
            binary: DemoCommand.executablePath(),
            directory: directory, portBase: portBase, rounds: rounds,
            parameters: [:])
        guard let mode = SynchronousMode(rawValue: syncMode) else { throw ValidationError("--sync-mode must be off, on or quorum") }
        bench.synchronousMode = mode
        bench.change = switchover ? .switchover : .killAgent
        bench.viaHAProxy = haproxy
        let quiet = json
        let results = try await bench.run { i, r in
            guard !quiet else { return }
            print("round \(i): \(switchover ? "switched over from" : "killed") \(r.killed), promoted \(r.promoted): writes unavailable \(Int(r.unavailableMs)) ms, "
                + "acknowledged writes lost \(r.lostWrites), old primary streaming again \(r.rejoinMs.map { "\(Int($0)) ms" } ?? "never") after "
                + (switchover ? "the request" : "restart"))
            fflush(nil)
        }
        if dir == nil { try? FileManager.default.removeItem(atPath: directory) }
        // A round whose gap could not be measured (-1) is left out of the figures.
        let gaps = results.map(\.unavailableMs).filter { $0 >= 0 }.sorted()
        guard !gaps.isEmpty else { throw ValidationError("no round could be measured") }
        let rejoins = results.compactMap(\.rejoinMs).sorted()
        let median = gaps[gaps.count / 2], worst = gaps.last ?? 0
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(results), as: UTF8.self))
            return
        }
        print("\n| rounds | mode | unavailable median | unavailable max | lost writes | rejoin median | rejoin max |")
        print("|---|---|---|---|---|---|---|")
        let modeText = (switchover ? "switchover, " : "kill -9, ") + "synchronous_mode \(syncMode)" + (haproxy ? ", via HAProxy" : "")
        print("| \(gaps.count)\(gaps.count < results.count ? " of \(results.count)" : "") | \(modeText) | \(Int(median)) ms | \(Int(worst)) ms | "
            + "\(results.map(\.lostWrites).reduce(0, +)) | \(rejoins.isEmpty ? "-" : "\(Int(rejoins[rejoins.count / 2])) ms") | "
            + "\(rejoins.last.map { "\(Int($0)) ms" } ?? "-") |")
    }
}
