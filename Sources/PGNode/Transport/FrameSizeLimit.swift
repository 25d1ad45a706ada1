/// The current frame size limit of one connection, shared by its `FrameDecoder` (which
/// enforces it) and its `HandshakeHandler` (which raises it from `Handshake.maxFrameSize` to
/// the configured maximum once the peer is authenticated). Confined to the channel's event
/// loop, like the handlers that hold it.
final class FrameSizeLimit {
    /// The largest payload accepted now, in bytes.
    var maxPayload: Int

    init(maxPayload: Int) {
        self.maxPayload = maxPayload
    }
}
