import NIOCore
import RaftCore

/// Carries a message larger than the frame limit (a big snapshot) as a run of chunk frames
/// on one connection, and puts it back together on the other side.
///
/// A chunk frame's payload: the type byte `MessageChunks.frameType` (no Raft message uses
/// it), then varints `messageID`, `index`, `count`, then up to the frame limit of the
/// message's encoding. Chunks of one message are queued together and travel in order; a
/// connection that breaks mid-message loses the rest, and the receiver, which only ever
/// completes a run that starts at index 0 and has every index in order, discards the partial
/// message (Raft retries a lost snapshot).
enum MessageChunks {
    static let frameType: UInt8 = 0xE0  // 0xF0...0xF2 are the handshake
    /// Bytes a chunk header can take at most (type byte and three 10-byte varints).
    static let maxHeader = 31

    /// The frames (length header included) that carry `encoded`, each within `maxPayload`.
    static func frames(for encoded: [UInt8], messageID: UInt64, maxPayload: Int) -> [ByteBuffer] {
        let room = max(1, maxPayload - maxHeader)
        let count = (encoded.count + room - 1) / room
        var frames: [ByteBuffer] = []
        frames.reserveCapacity(count)
        for index in 0..<count {
            var w = WireWriter()
            w.writeRaw([0, 0, 0, 0, frameType])
            w.writeVarint(messageID)
            w.writeVarint(UInt64(index))
            w.writeVarint(UInt64(count))
            let start = index * room
            w.writeRaw(encoded[start..<min(encoded.count, start + room)])
            w.patchUInt32BigEndian(UInt32(w.bytes.count - WireCodec.frameHeaderSize), at: 0)
            frames.append(ByteBuffer(bytes: w.bytes))
        }
        return frames
    }

    /// Reassembles chunked messages on one connection.
    struct Assembler {
        /// The largest message accepted, in bytes.
        let maxMessageSize: Int
        private var messageID: UInt64 = 0
        private var next = 0
        private var count = 0
        private var bytes: [UInt8] = []

        init(maxMessageSize: Int) { self.maxMessageSize = maxMessageSize }

        /// What one chunk frame did.
        enum Outcome: Equatable {
            /// More chunks are needed.
            case incomplete
            /// The message is whole: its encoding.
            case complete([UInt8])
            /// A chunk out of order (a message broken by a reconnect): the partial message
            /// was discarded.
            case discarded
        }

        /// Takes one chunk frame's payload (type byte included). Throws for a malformed chunk
        /// or one that would make the message larger than `maxMessageSize`.
        mutating func add(_ payload: [UInt8]) throws(WireError) -> Outcome {
            var r = WireReader(payload)
            guard try r.readByte() == frameType else { throw .invalid("not a chunk frame") }
            let id = try r.readVarint()
            let index = try r.readVarint()
            let total = try r.readVarint()
            guard total >= 1, index < total, total <= UInt64(maxMessageSize) else {
                throw .invalid("chunk \(index) of \(total)")
            }
            let data = payload[r.position...]
            if index == 0 {
                // A new message; an older partial one (cut by a reconnect) is dropped.
                messageID = id
                count = Int(total)
                next = 0
                bytes = []
            } else if count == 0 || id != messageID || Int(index) != next || Int(total) != count {
                let hadPartial = count > 0
                reset()
                return hadPartial || index > 0 ? .discarded : .incomplete
            }
            guard bytes.count + data.count <= maxMessageSize else {
                reset()
                throw .tooLarge("chunked message", bytes.count + data.count)
            }
            bytes.append(contentsOf: data)
            next += 1
            if next == count {
                let whole = bytes
                reset()
                return .complete(whole)
            }
            return .incomplete
        }

        private mutating func reset() {
            count = 0
            next = 0
            bytes = []
        }
    }
}
