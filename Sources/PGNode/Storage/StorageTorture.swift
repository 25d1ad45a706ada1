#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import RaftCore

/// The workload behind the hidden `pgha storage-torture` command: a process that appends to a
/// `DiskStorage` and reports each append the moment it returns, so a test can kill it with
/// SIGKILL at any point and check that recovery kept every acknowledged entry.
///
/// Entry contents are a pure function of the index (`entry(at:)`), so the checker needs no
/// other record of what was written.
package enum StorageTorture {
    /// The entry the workload writes at `index`: term 1, and 0 to 599 bytes of data whose
    /// length and contents are derived from `index` alone.
    package static func entry(at index: LogIndex) -> Entry {
        var state = index.rawValue &* 0x9E37_79B9_7F4A_7C15
        let length = Int(mix(&state) % 600)
        var data = [UInt8]()
        data.reserveCapacity(length + 8)
        while data.count < length {
            var word = mix(&state)
            for _ in 0..<8 {
                data.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        data.removeSubrange(length...)
        return Entry(term: 1, index: index, data: data)
    }

    /// The membership used for snapshots the workload takes.
    package static let membership = Membership(voters: [1])

    /// The snapshot data the workload stores for a snapshot at `index`: its 8 bytes,
    /// big-endian.
    package static func snapshotData(at index: LogIndex) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: index.rawValue >> (56 - 8 * $0)) }
    }

    /// Checks that `storage` holds exactly workload entries from its first to its last index
    /// and a workload snapshot; returns a description of the first difference, or `nil`.
    package static func verify(_ storage: DiskStorage) -> String? {
        let snap = storage.latestSnapshot
        if snap.metadata.index > .zero && snap.data != snapshotData(at: snap.metadata.index) {
            return "snapshot at \(snap.metadata.index.rawValue) holds the wrong data"
        }
        let first = storage.firstIndex(), last = storage.lastIndex()
        guard first <= last else { return nil }
        guard let entries = try? storage.entries(from: first, to: last + 1, maxBytes: .max) else {
            return "cannot read entries \(first.rawValue) ... \(last.rawValue)"
        }
        for (k, e) in entries.enumerated() where e != entry(at: first + UInt64(k)) {
            return "entry \((first + UInt64(k)).rawValue) differs: found \(e)"
        }
        return nil
    }

    /// Opens `directory` (continuing after whatever it holds), checks it with `verify`, then
    /// appends `count` workload entries one `append` at a time, calling `acknowledge` with
    /// each index as soon as its append has returned. With `snapshotEvery > 0`, after every
    /// index divisible by it takes a snapshot `snapshotEvery / 2` entries back (compacting).
    package static func run(directory: String, count: Int, segmentSize: Int, snapshotEvery: Int, logger: Logger,
                            opened: (DiskStorage) -> Void, acknowledge: (LogIndex) -> Void) throws {
        let storage = try DiskStorage(directory: directory, segmentSize: segmentSize, logger: logger)
        if let problem = verify(storage) {
            throw DiskStorageError.inconsistent(file: directory, reason: "torture check failed: \(problem)")
        }
        opened(storage)
        var next = storage.lastIndex() + 1
        for _ in 0..<count {
            try storage.append([entry(at: next)])
            acknowledge(next)
            if snapshotEvery > 0 && next.rawValue % UInt64(snapshotEvery) == 0 {
                let at = next - UInt64(snapshotEvery / 2)
                if at > storage.latestSnapshot.metadata.index {
                    try storage.createSnapshot(at: at, membership: membership, data: snapshotData(at: at))
                }
            }
            next = next + 1
        }
        storage.close()
    }

    /// Figures from `bench`.
    package struct BenchResult: Sendable, CustomStringConvertible {
        package var appends = 0
        package var payloadSize = 0
        package var appendsPerSecond = 0.0
        /// Latency of one single-entry `append` (write + `fdatasync`), in microseconds.
        package var appendMicros: (p50: Double, p99: Double, max: Double) = (0, 0, 0)
        /// Latency of a bare `pwrite` + `fdatasync` of `payloadSize` bytes on a plain file.
        package var rawSyncMicros: (p50: Double, p99: Double, max: Double) = (0, 0, 0)
        /// Entries per second appending batches of `batchSize` entries.
        package var batchSize = 0
        package var batchedEntriesPerSecond = 0.0

        package var description: String {
            func f(_ v: Double) -> String { String(Int(v.rounded())) }
            return """
            single-entry appends of \(payloadSize) B: \(appends) in a row, \(f(appendsPerSecond)) appends/s; \
            append latency p50 \(f(appendMicros.p50)) us, p99 \(f(appendMicros.p99)) us, max \(f(appendMicros.max)) us
            bare pwrite+fdatasync of \(payloadSize) B: p50 \(f(rawSyncMicros.p50)) us, p99 \(f(rawSyncMicros.p99)) us, max \(f(rawSyncMicros.max)) us
            batched appends of \(batchSize) x \(payloadSize) B: \(f(batchedEntriesPerSecond)) entries/s
            """
        }
    }

    /// Measures, in a fresh `directory` (which it creates and leaves behind): `count`
    /// single-entry appends of `payloadSize` bytes; `count` bare write+sync calls; and
    /// appends in batches of 100.
    package static func bench(directory: String, count: Int, payloadSize: Int, logger: Logger) throws -> BenchResult {
        var result = BenchResult()
        result.appends = count
        result.payloadSize = payloadSize
        result.batchSize = 100
        let clock = ContinuousClock()
        let payload = [UInt8](repeating: 0xA5, count: payloadSize)

        let storage = try DiskStorage(directory: directory + "/single", logger: logger)
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        var next = storage.lastIndex() + 1
        let start = clock.now
        for _ in 0..<count {
            let t0 = clock.now
            try storage.append([Entry(term: 1, index: next, data: payload)])
            latencies.append(micros(clock.now - t0))
            next = next + 1
        }
        result.appendsPerSecond = Double(count) / seconds(clock.now - start)
        result.appendMicros = percentiles(latencies)
        storage.close()

        let rawDirectoryFD = try DurableFile.openDirectory(directory + "/raw")
        defer { systemClose(rawDirectoryFD) }
        let path = directory + "/raw/file"
        let fd = try DurableFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { systemClose(fd) }
        var raw: [Double] = []
        raw.reserveCapacity(count)
        for k in 0..<count {
            let t0 = clock.now
            try DurableFile.writeAll(fd, payload, at: k * payloadSize, path: path)
            try DurableFile.sync(fd, path: path)
            raw.append(micros(clock.now - t0))
        }
        result.rawSyncMicros = percentiles(raw)

        let batched = try DiskStorage(directory: directory + "/batched", logger: logger)
        next = batched.lastIndex() + 1
        let batches = max(1, count / 10)
        let batchStart = clock.now
        for _ in 0..<batches {
            let batch = (0..<UInt64(result.batchSize)).map { Entry(term: 1, index: next + $0, data: payload) }
            try batched.append(batch)
            next = next + UInt64(result.batchSize)
        }
        result.batchedEntriesPerSecond = Double(batches * result.batchSize) / seconds(clock.now - batchStart)
        batched.close()
        return result
    }

    private static func mix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func micros(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12
    }

    private static func seconds(_ d: Duration) -> Double { micros(d) / 1e6 }

    private static func percentiles(_ values: [Double]) -> (p50: Double, p99: Double, max: Double) {
        let sorted = values.sorted()
        guard let last = sorted.last else { return (0, 0, 0) }
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return (at(0.5), at(0.99), last)
    }
}
