#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import RaftCore

/// Why `DiskStorage` could not open, recover or write its directory.
///
/// Every case names the file (and, for damaged data, the byte offset) and its
/// `description` says what an operator can do about it. `DiskStorage` never answers damage
/// before the end of the log by dropping data: it throws one of these instead.
public enum DiskStorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call failed: `operation` (e.g. "fsync") on `path`, with the C `errno`.
    case io(operation: String, path: String, errno: Int32)
    /// A log record is damaged in a way no crash produces: a complete record whose checksum
    /// does not match (anywhere in the log), a partial or zero-filled record in a segment
    /// other than the last, or one that intact records follow. `reason` says what is wrong.
    /// Entries in or after it may have been acknowledged, so nothing is cut.
    case corruptRecord(file: String, offset: Int, reason: String)
    /// The log lacks an entry at or below the commit index of the durable hard state: the
    /// record for `index` at `file`/`offset` is partial, zero-filled, or missing (the log
    /// ends before it), although the node acknowledged it. `reason` says what was found.
    case lostCommittedEntry(file: String, offset: Int, index: LogIndex, commit: LogIndex, reason: String)
    /// The log is not contiguous: the record or segment file at `file`/`offset` should hold
    /// index `expected` but holds (or starts at) `found`.
    case logGap(file: String, offset: Int, expected: LogIndex, found: LogIndex)
    /// The hard state or snapshot file cannot be decoded.
    case unreadableFile(file: String, offset: Int, reason: String)
    /// The files do not fit together (for instance the log's entry at the snapshot index has
    /// a different term than the snapshot).
    case inconsistent(file: String, reason: String)
    /// Another process (or another `DiskStorage` in this process) has the directory open.
    case directoryInUse(directory: String)
    /// The caller asked for something that cannot be stored (a programming error in the
    /// caller; nothing was written).
    case invalidArgument(String)
    /// An earlier write failed half way, so the files and the in-memory state may disagree;
    /// the storage refuses further writes. `cause` describes the first failure.
    case unusable(directory: String, cause: String)
    /// `close()` was called.
    case closed(directory: String)

    static let remedy = "Keep the directory as it is for inspection and do not start the node on it. "
        + "Either restore the directory from a backup, or move it away and re-add this node to the "
        + "cluster with an empty directory so it catches up from the leader's snapshot."

    /// For damage to entries the node may have acknowledged: it must not come back as the
    /// same member with a log that lacks them.
    static let rejoinRemedy = "This node may have acknowledged entries it no longer has, so it must not rejoin "
        + "the cluster with this directory (it could vote for a leader that lacks committed writes), and "
        + "restoring a backup does not help (a backup lacks the newest acknowledged entries). Keep the "
        + "directory as it is for inspection and do not start the node on it. Restore the node from a "
        + "peer: remove it from the cluster with a membership change, move the directory away, then "
        + "re-add this node to the cluster with an empty directory so it catches up from the leader's snapshot."

    /// What went wrong, where, and what to do.
    public var description: String {
        switch self {
        case .io(let op, let path, let code):
            return "\(op) failed on \(path): \(String(cString: strerror(code))) (errno \(code)). "
                + "Check that the file system is mounted read-write, not full, and owned by the user running pgha."
        case .corruptRecord(let file, let offset, let reason):
            return "damaged Raft log record in \(file) at byte offset \(offset): \(reason). "
                + "No crash leaves a record like this (the disk or something outside pgha changed the "
                + "file), so it and the entries after it may have been acknowledged and pgha will not "
                + "drop them. " + Self.rejoinRemedy
        case .lostCommittedEntry(let file, let offset, let index, let commit, let reason):
            return "committed Raft log entry \(index.rawValue) is lost in \(file) at byte offset \(offset): "
                + "\(reason); the hard state says entries up to \(commit.rawValue) are committed, so "
                + "pgha will not cut it. " + Self.rejoinRemedy
        case .logGap(let file, let offset, let expected, let found):
            return "Raft log is not contiguous in \(file) at byte offset \(offset): expected index "
                + "\(expected.rawValue), found \(found.rawValue). A segment file is missing or was "
                + "altered. " + Self.rejoinRemedy
        case .unreadableFile(let file, let offset, let reason):
            return "cannot decode \(file) at byte offset \(offset): \(reason). The file is written "
                + "atomically, so this is disk corruption or an outside change. " + Self.remedy
        case .inconsistent(let file, let reason):
            return "Raft storage files disagree (\(file)): \(reason). " + Self.remedy
        case .directoryInUse(let directory):
            return "\(directory) is already in use by another pgha process (or another DiskStorage "
                + "in this one). Run one node per directory; stop the other process first."
        case .invalidArgument(let reason):
            return "refusing to write to the Raft log: \(reason). Nothing was written; this is a bug in the caller."
        case .unusable(let directory, let cause):
            return "the Raft storage in \(directory) refuses writes after an earlier failure (\(cause)); "
                + "the files and memory may disagree. Restart the node: it recovers from the files."
        case .closed(let directory):
            return "the Raft storage in \(directory) is closed."
        }
    }
}
