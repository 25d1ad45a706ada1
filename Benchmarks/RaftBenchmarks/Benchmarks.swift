import Benchmark
import Foundation

/// Entry point the BenchmarkPlugin's generated `main` calls: registers every benchmark.
let benchmarks: @Sendable () -> Void = {
    registerCommitBatch1()
    registerCommitBatch64()
    registerCodecBenchmarks()
}

/// Settings shared by every benchmark in this suite.
///
/// `scalingFactor: .kilo`: one measured iteration does 1,000 logical operations (proposals,
/// or codec calls), so `throughput` reads as operations per second once scaled (the default
/// table shows it scaled, in K) and `wallClock` / `mallocCountTotal` are per operation.
/// `instructions` needs hardware perf counters; on a VM without them it is left out.
func suiteConfiguration(extraMetrics: [BenchmarkMetric] = []) -> Benchmark.Configuration {
    var metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]
    if hardwareInstructionCounterAvailable { metrics.append(.instructions) }
    return .init(
        metrics: metrics + extraMetrics,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 2_000
    )
}

/// Whether to add the `instructions` metric. It comes from hardware performance counters,
/// which many VMs (this project's Linux machines among them: `perf stat -e instructions true`
/// says "not supported") do not have, and there it would only print zeros. Set
/// `RAFT_BENCH_INSTRUCTIONS=1` to turn it on; it is on by default on macOS.
let hardwareInstructionCounterAvailable: Bool = {
    #if os(macOS)
    return true
    #else
    return ProcessInfo.processInfo.environment["RAFT_BENCH_INSTRUCTIONS"] == "1"
    #endif
}()
