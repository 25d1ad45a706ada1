import RaftCore

/// A write to the cluster store, as it travels in a Raft log entry.
///
/// `requestID` lets the node that proposed it answer its client when the entry applies;
/// it has no effect on the state.
public struct StoreCommand: Hashable, Sendable {
    public enum Operation: Hashable, Sendable {
        /// Set `key` to `value`. With `expectedRevision`, only if the key's current
        /// modification revision equals it (0: only if the key does not exist).
        case put(key: String, value: [UInt8], expectedRevision: UInt64?)
        /// Remove `key`. With `expectedRevision`, only if it matches as for `put`.
        case delete(key: String, expectedRevision: UInt64?)
    }

    public var requestID: UInt64
    public var operation: Operation

    public init(requestID: UInt64, operation: Operation) {
        self.requestID = requestID
        self.operation = operation
    }

    /// The compact binary form stored in the log.
    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.writeByte(Self.formatVersion)
        w.writeVarint(requestID)
        switch operation {
        case .put(let key, let value, let expected):
            w.writeByte(1)
            w.writeBytes(Array(key.utf8))
            w.writeBytes(value)
            Self.writeExpected(expected, &w)
        case .delete(let key, let expected):
            w.writeByte(2)
            w.writeBytes(Array(key.utf8))
            Self.writeExpected(expected, &w)
        }
        return w.bytes
    }

    /// Decodes a command; throws on bytes that are not one (never traps).
    public init(decoding bytes: [UInt8]) throws(WireError) {
        var r = WireReader(bytes)
        let version = try r.readByte()
        guard version == Self.formatVersion else { throw .invalid("store command format \(version)") }
        requestID = try r.readVarint()
        switch try r.readByte() {
        case 1:
            let key = try Self.readKey(&r)
            let value = try r.readBytes("value")
            operation = .put(key: key, value: value, expectedRevision: try Self.readExpected(&r))
        case 2:
            let key = try Self.readKey(&r)
            operation = .delete(key: key, expectedRevision: try Self.readExpected(&r))
        case let tag:
            throw .unknownTag("StoreCommand", tag)
        }
        try r.expectEnd()
    }

    static let formatVersion: UInt8 = 1

    package static func writeExpected(_ e: UInt64?, _ w: inout WireWriter) {
        w.writeBool(e != nil)
        w.writeVarint(e ?? 0)
    }

    package static func readExpected(_ r: inout WireReader) throws(WireError) -> UInt64? {
        let has = try r.readBool()
        let v = try r.readVarint()
        return has ? v : nil
    }

    package static func readKey(_ r: inout WireReader) throws(WireError) -> String {
        let bytes = try r.readBytes("key")
        guard let key = String(validating: bytes, as: UTF8.self) else { throw .invalid("key is not UTF-8") }
        return key
    }
}
