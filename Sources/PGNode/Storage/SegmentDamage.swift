/// Where and why reading a log segment stopped before the end of its file, and whether a
/// crash could have left it there.
///
/// Recovery cuts only what a crash can leave behind (`partialRecord`, `zeroTail`) and only
/// in the last segment and above the durable commit index; a `corruptRecord` is damage
/// wherever it is, and recovery refuses to start on it.
struct SegmentDamage: Equatable {
    /// What is at `offset`.
    enum Kind: Equatable {
        /// The file ends inside the record header, or inside the payload the header declares:
        /// what an append interrupted by a crash leaves at the end of the last segment.
        case partialRecord
        /// Every byte from `offset` to the end of the file is zero: space the file system
        /// allocated (or preallocated) but a crash left unwritten.
        case zeroTail
        /// A complete record (its declared length fits in the file) whose checksum does not
        /// match, or a header no writer produces (length below the minimum, not all zeros).
        /// No crash leaves this behind: the disk or something outside pgha changed the file.
        case corruptRecord
    }

    /// The byte offset of the record where reading stopped (a record boundary).
    var offset: Int
    var kind: Kind
    /// What is wrong with the record, for the log line or the error.
    var reason: String

    /// Whether a crash in the middle of an append can have left this (so cutting it may drop
    /// only writes that were never acknowledged, if it is also above the commit index).
    var isCrashArtifact: Bool { kind != .corruptRecord }

    /// Classifies the frame that stopped a scan at `offset` of `bytes`.
    static func classify(_ frame: RecordFormat.Frame, in bytes: [UInt8], at offset: Int) -> SegmentDamage {
        if bytes[offset...].allSatisfy({ $0 == 0 }) {
            return SegmentDamage(offset: offset, kind: .zeroTail,
                                 reason: "\(bytes.count - offset) zero bytes up to the end of the file (space left unwritten)")
        }
        switch frame {
        case .incomplete(let why):
            return SegmentDamage(offset: offset, kind: .partialRecord, reason: "partial record: " + why)
        case .bad(let why):
            return SegmentDamage(offset: offset, kind: .corruptRecord, reason: why)
        case .record:
            preconditionFailure("SegmentDamage.classify: an intact record is not damage")
        }
    }
}
