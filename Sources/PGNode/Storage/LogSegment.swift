#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore

/// One append-only file of the Raft log, `log-<first index as 16 hex digits>.seg`.
///
/// The file is a sequence of `RecordFormat` records, each holding one `WireCodec`-encoded
/// entry, with consecutive indices starting at the index in the name. A segment knows the
/// byte offset of each of its records, so the log can be cut at any entry. It holds a file
/// descriptor only while it is the segment being written. Blocking; one owner
/// (`DiskStorage`).
final class LogSegment {
    /// The index of the first record (also when the segment is still empty).
    let firstIndex: LogIndex
    /// The full path of the file.
    let path: String
    /// The offset of each record in the file, in index order.
    private(set) var recordOffsets: [Int]
    /// The length of the file: the end of its last record.
    private(set) var size: Int
    /// Open for writing while this is the segment being appended to (or cut).
    private var fd: Int32?
    /// Whether writes or a cut were made since the last `sync()`.
    private(set) var needsSync = false

    /// The smallest payload a record can have: `WireCodec`'s smallest entry encoding (term,
    /// index, payload tag, a one-byte length).
    static let minEntryPayload = 4

    init(firstIndex: LogIndex, path: String, recordOffsets: [Int], size: Int) {
        self.firstIndex = firstIndex
        self.path = path
        self.recordOffsets = recordOffsets
        self.size = size
    }

    deinit { closeFile() }

    /// How many records the segment holds.
    var count: Int { recordOffsets.count }
    /// The index the next record appended here must have.
    var nextIndex: LogIndex { firstIndex + UInt64(recordOffsets.count) }

    // MARK: Names

    /// `log-` + 16 lowercase hex digits of `firstIndex` + `.seg`; sorts like the indices.
    static func fileName(firstIndex: LogIndex) -> String {
        let hex = String(firstIndex.rawValue, radix: 16)
        return "log-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".seg"
    }

    /// The first index named by a segment file name, or `nil` if `name` is not one.
    static func firstIndex(fromFileName name: String) -> LogIndex? {
        guard name.count == 24, name.hasPrefix("log-"), name.hasSuffix(".seg") else { return nil }
        let digits = name.dropFirst(4).prefix(16)
        guard digits.allSatisfy({ $0.isHexDigit && !$0.isUppercase }), let value = UInt64(digits, radix: 16) else {
            return nil
        }
        return LogIndex(value)
    }

    // MARK: Writing

    /// Creates (or empties) the file for a new segment and keeps it open for appending. The
    /// directory entry is not yet durable: the caller syncs the directory.
    static func create(firstIndex: LogIndex, directory: String) throws(DiskStorageError) -> LogSegment {
        let path = directory + "/" + fileName(firstIndex: firstIndex)
        let segment = LogSegment(firstIndex: firstIndex, path: path, recordOffsets: [], size: 0)
        segment.fd = try DurableFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        return segment
    }

    private func openIfNeeded() throws(DiskStorageError) -> Int32 {
        if let fd { return fd }
        let opened = try DurableFile.open(path, flags: O_WRONLY)
        fd = opened
        return opened
    }

    /// Writes `bytes[range]` at the end of the file with one `pwrite`; the records in it end
    /// at the offsets `recordEnds` of `bytes` (in order, the last one `range.upperBound`).
    /// Not durable until `sync()`.
    func append(_ bytes: [UInt8], _ range: Range<Int>, recordEnds: ArraySlice<Int>) throws(DiskStorageError) {
        guard !range.isEmpty else { return }
        let fd = try openIfNeeded()
        try bytes.withUnsafeBytes { all in
            Result { () throws(DiskStorageError) in
                try DurableFile.writeAll(fd, UnsafeRawBufferPointer(rebasing: all[range]), at: size, path: path)
            }
        }.get()
        needsSync = true
        var start = range.lowerBound
        for end in recordEnds {
            recordOffsets.append(size + start - range.lowerBound)
            start = end
        }
        size += range.count
    }

    /// Drops every record from the `keep`-th on (so `keep` records remain) with
    /// `ftruncate`. Not durable until `sync()`.
    func truncate(keepingRecords keep: Int) throws(DiskStorageError) {
        precondition(keep >= 0 && keep <= count, "LogSegment.truncate: keep \(keep) of \(count)")
        let length = keep < count ? recordOffsets[keep] : size
        try cut(at: length)
        recordOffsets.removeSubrange(keep...)
    }

    /// Cuts the file at byte `length` (a record boundary). Not durable until `sync()`.
    func cut(at length: Int) throws(DiskStorageError) {
        let fd = try openIfNeeded()
        try DurableFile.truncate(fd, to: length, path: path)
        size = length
        needsSync = true
    }

    /// Makes the writes and cuts since the last sync durable (one `fdatasync`), if any.
    func sync() throws(DiskStorageError) {
        guard needsSync, let fd else { return }
        try DurableFile.sync(fd, path: path)
        needsSync = false
    }

    /// Closes the file descriptor, if open (it reopens on the next write).
    func closeFile() {
        if let fd { systemClose(fd) }
        fd = nil
    }

    // MARK: Reading

    /// What a segment file holds, as far as it is intact.
    struct Scan {
        /// The entries of the intact records, in order.
        var entries: [Entry] = []
        /// The offset of each intact record.
        var offsets: [Int] = []
        /// The end of the last intact record.
        var end = 0
        /// Where and why reading stopped before the end of the file, if it did.
        var damage: SegmentDamage?
    }

    /// Reads the records of a segment whose first index is `firstIndex`, stopping at the
    /// first record that is incomplete, zero-filled or fails its checksum (reported as
    /// `damage`, classified; the caller decides whether it may be cut).
    ///
    /// Throws for what no torn write can produce: a record whose checksum matches but whose
    /// entry does not decode (`corruptRecord`) or has the wrong index (`logGap`).
    static func scan(_ bytes: [UInt8], firstIndex: LogIndex, file: String) throws(DiskStorageError) -> Scan {
        var scan = Scan()
        var expected = firstIndex
        var offset = 0
        while offset < bytes.count {
            let frame = RecordFormat.frame(in: bytes, at: offset, minPayload: minEntryPayload)
            switch frame {
            case .incomplete, .bad:
                scan.end = offset
                scan.damage = SegmentDamage.classify(frame, in: bytes, at: offset)
                return scan
            case .record(let payload):
                let entry: Entry
                do {
                    entry = try decodeEntry(bytes[payload])
                } catch {
                    throw .corruptRecord(file: file, offset: offset, reason: "its checksum matches but the "
                        + "entry does not decode (\(error)): written by an incompatible version, or the disk returned wrong data")
                }
                guard entry.index == expected else {
                    throw .logGap(file: file, offset: offset, expected: expected, found: entry.index)
                }
                scan.entries.append(entry)
                scan.offsets.append(offset)
                expected = expected + 1
                offset = payload.upperBound
            }
        }
        scan.end = offset
        return scan
    }

    /// The offset of the first intact record after `offset` holding an entry with index at
    /// least `minIndex`, or `nil`. Used to tell a partial record at the end of the log (nothing
    /// intact follows) from a damaged length field in the middle of it (intact records follow).
    static func intactRecord(in bytes: [UInt8], after offset: Int, minIndex: LogIndex) -> Int? {
        var p = offset + 1
        while p + RecordFormat.headerSize + minEntryPayload <= bytes.count {
            if case .record(let payload) = RecordFormat.frame(in: bytes, at: p, minPayload: minEntryPayload),
               let entry = try? decodeEntry(bytes[payload]), entry.index >= minIndex {
                return p
            }
            p += 1
        }
        return nil
    }

    private static func decodeEntry(_ payload: ArraySlice<UInt8>) throws(WireError) -> Entry {
        var r = WireReader(payload)
        let entry = try WireCodec.decodeEntry(from: &r)
        try r.expectEnd()
        return entry
    }
}
