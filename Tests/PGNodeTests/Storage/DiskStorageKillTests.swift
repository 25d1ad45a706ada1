#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
@testable import PGNode
import RaftCore

/// The built `pgha` binary, for tests that must kill a real process.
enum PGHABinary {
    /// `<package root>/.build/debug/pgha`, or `$PGHA_BINARY` if set.
    static let path: String = {
        if let override = ProcessInfo.processInfo.environment["PGHA_BINARY"] { return override }
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { root.deleteLastPathComponent() }  // Storage, PGNodeTests, Tests, file
        return root.path + "/.build/debug/pgha"
    }()

    /// Whether the binary exists and has the hidden `storage-torture` subcommand.
    static let hasStorageTorture: Bool = {
        guard FileManager.default.isExecutableFile(atPath: path) else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["storage-torture", "--help"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        // An unregistered subcommand makes ArgumentParser print the top-level help instead.
        return p.terminationStatus == 0 && help.contains("--snapshot-every")
    }()
}

/// What one run of `pgha storage-torture` printed.
struct TortureRun {
    var opened: String?
    var acks: [UInt64] = []
    var done = false
    var killed = false
    var status: Int32 = 0
    var stderr = ""
}

@Suite struct DiskStorageKillTests {
    /// Runs `pgha storage-torture` on `dir`; with `killAfter`, sends SIGKILL once that many
    /// acknowledgements were read (after `delayMicros` more), then drains its output: every
    /// `ack` line printed before it died counts as acknowledged.
    static func runTorture(dir: String, stderrPath: String, entries: Int, segmentSize: Int, snapshotEvery: Int,
                           killAfter: Int?, delayMicros: UInt32) throws -> TortureRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PGHABinary.path)
        process.arguments = ["storage-torture", "--dir", dir, "--entries", "\(entries)",
                             "--segment-size", "\(segmentSize)", "--snapshot-every", "\(snapshotEvery)"]
        let out = Pipe()
        process.standardOutput = out
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardError = errHandle
        try process.run()
        try errHandle.close()

        var run = TortureRun()
        var pending: [UInt8] = []
        let reader = out.fileHandleForReading
        while true {
            let data = reader.availableData
            if data.isEmpty { break }  // EOF: the process exited or was killed.
            pending += data
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasPrefix("ack "), let index = UInt64(line.dropFirst(4)) {
                    run.acks.append(index)
                } else if line.hasPrefix("open ") {
                    run.opened = line
                } else if line == "done" {
                    run.done = true
                }
            }
            if let killAfter, !run.killed, run.acks.count >= killAfter {
                if delayMicros > 0 { usleep(delayMicros) }
                kill(process.processIdentifier, SIGKILL)
                run.killed = true
            }
        }
        process.waitUntilExit()
        run.status = process.terminationStatus
        run.stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        return run
    }

    /// SIGKILL at random moments: every acknowledged append survives, recovery cuts at most
    /// the one append in flight, and the next run continues in the same directory.
    @Test(.enabled(if: PGHABinary.hasStorageTorture,
                   "needs \(PGHABinary.path) with the hidden storage-torture subcommand (registered in PGHA.swift): run `swift build` first"),
          .timeLimit(.minutes(1)))
    func killNineNeverLosesAnAcknowledgedAppend() throws {
        try withTemporaryDirectory { root in
            let dir = root + "/raft"
            let seed = UInt64(Date().timeIntervalSince1970 * 1000)
            var rng = TestRandom(seed: seed)
            var next: UInt64 = 1  // the first index the next run must append
            var cutWarnings = 0
            for round in 0..<6 {
                let killAfter = 50 + Int(rng.next(below: 1200))
                let delay = UInt32(rng.next(below: 1500))
                let segmentSize = [2048, 16384, 1 << 20][round % 3]
                let snapshotEvery = round >= 3 ? 50 + Int(rng.next(below: 200)) : 0
                let context = "seed \(seed) round \(round): kill after \(killAfter) acks + \(delay) us, "
                    + "segment size \(segmentSize), snapshot every \(snapshotEvery)"
                let run = try Self.runTorture(dir: dir, stderrPath: root + "/stderr-\(round)", entries: 100_000,
                                              segmentSize: segmentSize, snapshotEvery: snapshotEvery,
                                              killAfter: killAfter, delayMicros: delay)
                #expect(run.killed && !run.done, "\(context): \(run.stderr)")
                let opened = try #require(run.opened, "\(context): no `open` line; stderr: \(run.stderr)")
                #expect(opened.contains("last=\(next - 1) "), "\(context): the torture run resumed after what we checked: \(opened)")
                #expect(run.acks.first == next && run.acks == Array(next ..< next + UInt64(run.acks.count)),
                        "\(context): acks are consecutive from \(next)")
                let lastAck = run.acks.last ?? next - 1
                cutWarnings += run.stderr.components(separatedBy: "cutting a ").count - 1

                let logs = CapturedLogs()
                let disk = try DiskStorage(directory: dir, logger: logs.logger())
                #expect(StorageTorture.verify(disk) == nil, "\(context): \(StorageTorture.verify(disk) ?? "")")
                #expect(disk.lastIndex().rawValue >= lastAck, "\(context): acknowledged entry lost (last \(disk.lastIndex()), acked \(lastAck))")
                #expect(disk.lastIndex().rawValue <= lastAck + 1, "\(context): more than the one in-flight append survived")
                #expect(disk.firstIndex() <= disk.lastIndex() + 1)
                // A snapshot exists once the log reached well past the interval (a run killed
                // earlier may not have taken one yet).
                if snapshotEvery > 0 && lastAck >= UInt64(2 * snapshotEvery) {
                    #expect(disk.latestSnapshot.metadata.index > .zero, "\(context): snapshots were taken")
                }
                for line in logs.warnings where line.message.contains("cutting a ") {
                    // A cut never reaches into an acknowledged record.
                    let offset = Int(line.metadata["storage.offset"] ?? "") ?? -1
                    #expect(offset >= 0, "\(context): \(line.metadata)")
                    cutWarnings += 1
                }
                next = disk.lastIndex().rawValue + 1
                disk.close()
            }
            print("storage kill test: seed \(seed), \(next - 1) entries over 6 kills, \(cutWarnings) torn tails cut")
        }
    }

    /// Figures for the report (not asserted): append throughput and fsync latency on this
    /// machine. `pgha storage-torture --bench --dir D` prints the same for a longer run.
    @Test func measureAppendThroughputAndSyncLatency() throws {
        try withTemporaryDirectory { dir in
            let result = try StorageTorture.bench(directory: dir, count: 300, payloadSize: 128, logger: quietLogger)
            print("storage bench (debug build, \(dir)):\n\(result)")
            #expect(result.appendsPerSecond > 0)
        }
    }
}
