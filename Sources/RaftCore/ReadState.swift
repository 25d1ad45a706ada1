/// The answer to a linearizable read request: once the application has applied every entry
/// up to `index`, reading its state machine returns a result that reflects every write
/// committed before the read was requested (ReadIndex, thesis §6.4).
public struct ReadState: Hashable, Sendable {
    public var index: LogIndex
    /// The id the application gave the request.
    public var requestID: UInt64
    public init(index: LogIndex, requestID: UInt64) {
        self.index = index
        self.requestID = requestID
    }
}
