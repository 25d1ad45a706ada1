#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Logging
import PGNode

/// `pgha storage-torture` (hidden): appends to a `DiskStorage` one entry at a time and prints
/// `ack <index>` the moment each append has returned, for the kill -9 test in
/// `Tests/PGNodeTests/Storage`. With `--bench`, measures append throughput and fsync latency.
struct StorageTortureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-torture",
        abstract: "Append to a DiskStorage and acknowledge each durable append on stdout (for crash tests).",
        discussion: """
        Opens --dir (creating it, or continuing after the entries it holds, which it first \
        checks), prints `open first=F last=L snapshot=S`, then appends --entries entries one per \
        append, printing `ack <index>` after each append returns (stdout is flushed every time), \
        and `done` at the end. Entry contents are a function of the index, so a checker can \
        verify them after killing this process at any moment.

        With --bench, writes into a fresh --dir and prints append throughput and latency figures.
        """,
        shouldDisplay: false
    )

    @Option(help: "The storage directory.") var dir: String
    @Option(help: "How many entries to append.") var entries: Int = 100_000
    @Option(help: "Segment size in bytes.") var segmentSize: Int = 1 << 20
    @Option(help: "Take a snapshot (and compact) after every index divisible by this; 0 for never.") var snapshotEvery: Int = 0
    @Flag(help: "Measure instead: single-entry appends, bare write+fdatasync, batched appends.") var bench = false
    @Option(help: "Payload bytes per entry for --bench.") var payloadSize: Int = 128

    func validate() throws {
        guard entries > 0, segmentSize > 0, snapshotEvery >= 0, payloadSize >= 0 else {
            throw ValidationError("--entries and --segment-size must be positive, --snapshot-every and --payload-size not negative")
        }
    }

    func run() throws {
        var logger = Logger(label: "pgha.storage-torture") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .info
        if bench {
            let result = try StorageTorture.bench(directory: dir, count: entries, payloadSize: payloadSize, logger: logger)
            print(result)
            return
        }
        try StorageTorture.run(
            directory: dir, count: entries, segmentSize: segmentSize, snapshotEvery: snapshotEvery, logger: logger,
            opened: { storage in
                emit("open first=\(storage.firstIndex().rawValue) last=\(storage.lastIndex().rawValue) "
                    + "snapshot=\(storage.latestSnapshot.metadata.index.rawValue)")
            },
            acknowledge: { index in emit("ack \(index.rawValue)") })
        emit("done")
    }

    private func emit(_ line: String) {
        print(line)
        fflush(nil)  // All C streams: `stdout` itself is a global the Swift 6 checker rejects.
    }
}
