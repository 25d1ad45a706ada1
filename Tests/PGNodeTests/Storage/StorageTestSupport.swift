import Foundation
import Logging
import Testing
@testable import PGNode
import RaftCore

/// A fresh directory under /tmp, removed when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "pgha-storage-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Log lines captured by `CapturingLogHandler`.
final class CapturedLogs: @unchecked Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let lock = NSLock()
    private var storage: [Line] = []

    var lines: [Line] { lock.withLock { storage } }
    func append(_ line: Line) { lock.withLock { storage.append(line) } }
    func removeAll() { lock.withLock { storage.removeAll() } }

    /// Lines at warning level or above.
    var warnings: [Line] { lines.filter { $0.level >= .warning } }

    /// A logger writing here.
    func logger() -> Logger {
        var logger = Logger(label: "pgha.storage.test") { _ in CapturingLogHandler(logs: self) }
        logger.logLevel = .debug
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[k] = "\(v)" }
        logs.append(.init(level: event.level, message: "\(event.message)", metadata: flat))
    }
}

/// A logger that drops everything.
let quietLogger = Logger(label: "pgha.storage.test.quiet") { _ in SwiftLogNoOpLogHandler() }

/// A normal entry with `size` bytes derived from its index and term.
func makeEntry(_ index: UInt64, term: UInt64, size: Int = 20) -> Entry {
    Entry(term: Term(term), index: LogIndex(index),
          data: (0..<size).map { UInt8(truncatingIfNeeded: index &* 31 &+ term &* 7 &+ UInt64($0)) })
}

func makeEntries(_ range: ClosedRange<UInt64>, term: UInt64, size: Int = 20) -> [Entry] {
    range.map { makeEntry($0, term: term, size: size) }
}

/// The segment files in `directory`, sorted.
func segmentFiles(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }.sorted()
}

func fileBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Every entry the storage holds.
func allEntries(_ s: some RaftStorage) throws -> [Entry] {
    guard s.firstIndex() <= s.lastIndex() else { return [] }
    return try s.entries(from: s.firstIndex(), to: s.lastIndex() + 1, maxBytes: .max)
}

/// Checks that `disk` answers every read exactly like `memory`.
func expectSameAnswers(_ disk: DiskStorage, _ memory: MemoryStorage, _ context: @autoclosure () -> String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    let ctx = context()
    #expect(disk.firstIndex() == memory.firstIndex(), "firstIndex, \(ctx)", sourceLocation: sourceLocation)
    #expect(disk.lastIndex() == memory.lastIndex(), "lastIndex, \(ctx)", sourceLocation: sourceLocation)
    #expect(disk.hardState == memory.hardState, "hardState, \(ctx)", sourceLocation: sourceLocation)
    #expect(disk.latestSnapshot == memory.latestSnapshot, "snapshot, \(ctx)", sourceLocation: sourceLocation)
    let di = Result { () throws(StorageError) in try disk.initialState() }.map { "\($0.0) \($0.1)" }
    let mi = Result { () throws(StorageError) in try memory.initialState() }.map { "\($0.0) \($0.1)" }
    #expect(di == mi, "initialState, \(ctx)", sourceLocation: sourceLocation)
    let lo = memory.firstIndex() - 3, hi = memory.lastIndex() + 3
    var i = lo
    while i <= hi {
        let dt = Result { () throws(StorageError) in try disk.term(of: i) }
        let mt = Result { () throws(StorageError) in try memory.term(of: i) }
        #expect(dt == mt, "term(of: \(i)), \(ctx)", sourceLocation: sourceLocation)
        i = i + 1
    }
    for (low, high, maxBytes) in [(lo, hi, Int.max), (memory.firstIndex(), memory.lastIndex() + 1, Int.max),
                                  (memory.firstIndex(), memory.lastIndex() + 1, 50),
                                  (memory.firstIndex() + 1, memory.lastIndex(), 0),
                                  (memory.firstIndex(), memory.lastIndex() + 2, 100)] {
        let de = Result { () throws(StorageError) in try disk.entries(from: low, to: high, maxBytes: maxBytes) }
        let me = Result { () throws(StorageError) in try memory.entries(from: low, to: high, maxBytes: maxBytes) }
        #expect(de == me, "entries(\(low)..<\(high), \(maxBytes)), \(ctx)", sourceLocation: sourceLocation)
    }
}
