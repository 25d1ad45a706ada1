import RaftCore

/// A client write as it travels in a log entry: which operation it is (so the proposing node
/// can answer its client) and what it does.
struct KVCommand: Hashable {
    enum Action: Hashable {
        case put(key: String, value: String)
        case compareAndSet(key: String, expected: String?, new: String)
    }

    var tag: UInt64
    var action: Action

    func encoded() -> [UInt8] {
        var w = WireWriter()
        w.writeVarint(tag)
        switch action {
        case .put(let k, let v):
            w.writeByte(0)
            w.writeBytes(Array(k.utf8))
            w.writeBytes(Array(v.utf8))
        case .compareAndSet(let k, let e, let n):
            w.writeByte(1)
            w.writeBytes(Array(k.utf8))
            w.writeBool(e != nil)
            w.writeBytes(Array((e ?? "").utf8))
            w.writeBytes(Array(n.utf8))
        }
        return w.bytes
    }

    /// Nil for bytes that are not a command (the leader's empty entries).
    init?(decoding bytes: [UInt8]) {
        guard !bytes.isEmpty else { return nil }
        var r = WireReader(bytes)
        do {
            tag = try r.readVarint()
            switch try r.readByte() {
            case 0:
                action = .put(key: String(decoding: try r.readBytes("key"), as: UTF8.self),
                              value: String(decoding: try r.readBytes("value"), as: UTF8.self))
            case 1:
                let k = String(decoding: try r.readBytes("key"), as: UTF8.self)
                let has = try r.readBool()
                let e = String(decoding: try r.readBytes("expected"), as: UTF8.self)
                let n = String(decoding: try r.readBytes("new"), as: UTF8.self)
                action = .compareAndSet(key: k, expected: has ? e : nil, new: n)
            default:
                return nil
            }
        } catch {
            return nil
        }
    }

    init(tag: UInt64, action: Action) {
        self.tag = tag
        self.action = action
    }
}

/// The replicated state machine of the simulation: one register per key.
struct KVStore: Equatable {
    private(set) var values: [String: String] = [:]

    /// Applies a command; returns what the client observes.
    mutating func apply(_ c: KVCommand) -> KVObservation {
        switch c.action {
        case .put(let k, let v):
            values[k] = v
            return .put
        case .compareAndSet(let k, let e, let n):
            if values[k] == e {
                values[k] = n
                return .compareAndSet(succeeded: true)
            }
            return .compareAndSet(succeeded: false)
        }
    }

    func get(_ key: String) -> String? { values[key] }

    func snapshot() -> [UInt8] {
        var w = WireWriter()
        w.writeVarint(UInt64(values.count))
        for k in values.keys.sorted() {
            w.writeBytes(Array(k.utf8))
            w.writeBytes(Array(values[k]!.utf8))
        }
        return w.bytes
    }

    init() {}

    init(snapshot bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        var r = WireReader(bytes)
        guard let n = try? r.readVarint() else { return }
        for _ in 0..<n {
            guard let k = try? r.readBytes("key"), let v = try? r.readBytes("value") else { return }
            values[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
        }
    }
}
