import NIOCore

/// Splits a byte stream into frames: a big-endian `UInt32` payload length, then the payload
/// (whose first byte is the frame type). Emits each payload as a `ByteBuffer` slice without
/// the header.
///
/// A declared length above the connection's `FrameSizeLimit` throws `FrameTooLarge` as soon
/// as the 4 header bytes have arrived, before anything of the payload is buffered; the
/// `ByteToMessageHandler` then forwards the error and decodes nothing more, and the
/// `HandshakeHandler` closes the connection. Bytes left over at EOF are ignored.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// A frame header declared more than the limit.
    struct FrameTooLarge: Error, Hashable {
        var length: UInt32
        var limit: Int
    }

    let limit: FrameSizeLimit

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        guard UInt64(length) <= UInt64(max(limit.maxPayload, 0)) else {
            throw FrameTooLarge(length: length, limit: limit.maxPayload)
        }
        guard buffer.readableBytes - 4 >= Int(length) else {
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4)
        let payload = buffer.readSlice(length: Int(length))!  // checked above
        context.fireChannelRead(Self.wrapInboundOut(payload))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // Deliver complete frames that arrived with the EOF; drop a partial one.
        try decode(context: context, buffer: &buffer)
    }
}
