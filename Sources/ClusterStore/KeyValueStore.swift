import RaftCore

/// One key's value and its history counters (as in etcd): the revision that created it,
/// the revision that last modified it, and how many times it was written since creation.
public struct VersionedValue: Hashable, Sendable {
    public var value: [UInt8]
    public var createRevision: UInt64
    public var modRevision: UInt64
    public var version: UInt64

    public init(value: [UInt8], createRevision: UInt64, modRevision: UInt64, version: UInt64) {
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
    }
}

/// The outcome of applying a `StoreCommand`.
public enum StoreResult: Hashable, Sendable {
    /// The write took effect at `revision`.
    case ok(revision: UInt64)
    /// The comparison failed; `current` is the key's modification revision (0 if absent).
    case revisionMismatch(current: UInt64)
    /// A delete of a key that does not exist.
    case notFound
}

/// The replicated key-value state machine behind the cluster store: a sorted map with
/// revisions and compare-and-set. Pure and deterministic; every node applies the same
/// commands in log order and ends in the same state.
///
/// The store's revision is the Raft index of the last applied entry, so revisions increase
/// strictly with every write and can be compared across nodes.
public struct KeyValueStore: Hashable, Sendable {
    private(set) var entries: [String: VersionedValue] = [:]
    /// The index of the last applied log entry (write or not).
    public private(set) var revision: UInt64 = 0

    /// Keys and values must stay below these sizes; larger writes are refused at proposal.
    public static let maxKeyBytes = 1_024
    public static let maxValueBytes = 1 << 20

    public init() {}

    /// The value at `key`, if any.
    public func get(_ key: String) -> VersionedValue? { entries[key] }

    /// Every key with `prefix`, in key order.
    public func list(prefix: String) -> [(key: String, value: VersionedValue)] {
        entries.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var count: Int { entries.count }

    /// Applies `command` from the log entry at `index`. Entries must be applied in log order;
    /// an index at or below the current revision is ignored (already applied).
    public mutating func apply(_ command: StoreCommand, at index: UInt64) -> StoreResult {
        guard index > revision else { return .revisionMismatch(current: 0) }
        revision = index
        switch command.operation {
        case .put(let key, let value, let expected):
            let current = entries[key]
            if let expected, expected != (current?.modRevision ?? 0) {
                return .revisionMismatch(current: current?.modRevision ?? 0)
            }
            entries[key] = VersionedValue(value: value, createRevision: current?.createRevision ?? index,
                                          modRevision: index, version: (current?.version ?? 0) + 1)
            return .ok(revision: index)
        case .delete(let key, let expected):
            guard let current = entries[key] else {
                return expected.map { $0 == 0 ? .notFound : .revisionMismatch(current: 0) } ?? .notFound
            }
            if let expected, expected != current.modRevision {
                return .revisionMismatch(current: current.modRevision)
            }
            entries[key] = nil
            return .ok(revision: index)
        }
    }

    /// Notes that the entry at `index` carried no store command (a leader's empty entry or a
    /// membership change): the revision moves on.
    public mutating func skip(_ index: UInt64) {
        if index > revision { revision = index }
    }

    /// The whole state, for a Raft snapshot.
    public func snapshot() -> [UInt8] {
        var w = WireWriter(reservingCapacity: 64 + entries.count * 64)
        w.writeByte(1)
        w.writeVarint(revision)
        w.writeVarint(UInt64(entries.count))
        for key in entries.keys.sorted() {
            let v = entries[key]!
            w.writeBytes(Array(key.utf8))
            w.writeBytes(v.value)
            w.writeVarint(v.createRevision)
            w.writeVarint(v.modRevision)
            w.writeVarint(v.version)
        }
        return w.bytes
    }

    /// Restores the state from `snapshot()` bytes; throws on anything else.
    public init(snapshot bytes: [UInt8]) throws(WireError) {
        if bytes.isEmpty { return }
        var r = WireReader(bytes)
        guard try r.readByte() == 1 else { throw .invalid("store snapshot format") }
        revision = try r.readVarint()
        let n = try r.readCount("store entries", minElementSize: 5)
        for _ in 0..<n {
            let key = try StoreCommand.readKey(&r)
            let value = try r.readBytes("value")
            entries[key] = VersionedValue(value: value, createRevision: try r.readVarint(),
                                          modRevision: try r.readVarint(), version: try r.readVarint())
        }
        try r.expectEnd()
    }
}
