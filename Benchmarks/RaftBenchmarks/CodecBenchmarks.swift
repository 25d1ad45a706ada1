import Benchmark
import RaftCore

/// `WireCodec` on the message that dominates replication traffic: an append carrying 64
/// entries of 128-byte payloads (realistic terms and indices, so the varints take 1-3 bytes).
///
/// Three benchmarks, each doing 1,000 operations per measured iteration (`scalingFactor`
/// `.kilo`), so `throughput` is operations per second:
/// - encode+decode: `WireCodec.encode(m)` then `WireCodec.decode(bytes)` of the result;
/// - encode: `WireCodec.encode(m)` only;
/// - decode: `WireCodec.decode(bytes)` of a pre-encoded buffer only.
/// The extra metric `bytes/s` is the encoded message size times operations per second (for
/// encode+decode: each operation encodes and decodes that many bytes once). The encoded size
/// is part of each benchmark's name.
func registerCodecBenchmarks() {
    let message = CodecFixture.appendMessage(entries: 64, payloadSize: 128)
    let encoded = WireCodec.encode(message)
    precondition((try? WireCodec.decode(encoded)) == message, "codec round trip failed")
    let size = encoded.count
    let bytesPerSecond = BenchmarkMetric.custom("bytes/s", polarity: .prefersLarger, useScalingFactor: false)
    let configuration = suiteConfiguration(extraMetrics: [bytesPerSecond])
    let what = "append 64x128B, \(size) B"

    Benchmark("Codec encode+decode (\(what))", configuration: configuration) { benchmark in
        let clock = ContinuousClock()
        let start = clock.now
        for _ in benchmark.scaledIterations {
            let bytes = WireCodec.encode(message)
            blackHole(try! WireCodec.decode(bytes))
        }
        benchmark.measurement(bytesPerSecond, rate(bytes: size * benchmark.scaledIterations.count, in: start.duration(to: clock.now)))
    }

    Benchmark("Codec encode (\(what))", configuration: configuration) { benchmark in
        let clock = ContinuousClock()
        let start = clock.now
        for _ in benchmark.scaledIterations {
            blackHole(WireCodec.encode(message))
        }
        benchmark.measurement(bytesPerSecond, rate(bytes: size * benchmark.scaledIterations.count, in: start.duration(to: clock.now)))
    }

    Benchmark("Codec decode (\(what))", configuration: configuration) { benchmark in
        let clock = ContinuousClock()
        let start = clock.now
        for _ in benchmark.scaledIterations {
            blackHole(try! WireCodec.decode(encoded))
        }
        benchmark.measurement(bytesPerSecond, rate(bytes: size * benchmark.scaledIterations.count, in: start.duration(to: clock.now)))
    }
}

/// Bytes per second, for the `bytes/s` metric.
private func rate(bytes: Int, in duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    let s = Double(seconds) + Double(attoseconds) / 1e18
    return s > 0 ? Int(Double(bytes) / s) : 0
}

enum CodecFixture {
    /// An append from leader 1 to follower 2 in term 7, carrying entries 100_001... of
    /// `payloadSize` bytes each, with a commit index just behind.
    static func appendMessage(entries count: Int, payloadSize: Int) -> Message {
        let first: UInt64 = 100_001
        let term = Term(7)
        let payload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let entries = (0..<UInt64(count)).map { Entry(term: term, index: LogIndex(first + $0), data: payload) }
        return Message(from: 1, to: 2, term: term,
                       body: .append(AppendRequest(prevLogIndex: LogIndex(first - 1), prevLogTerm: term,
                                                   entries: entries, commit: LogIndex(first - 10))))
    }
}
