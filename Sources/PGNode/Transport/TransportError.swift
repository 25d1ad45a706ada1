/// Why `PeerTransport.start()` refused to start.
public enum TransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A `TransportConfig` value is unusable; the text names the field and what to change.
    case invalidConfig(String)
    /// `start()` was called a second time, or after `shutdown()`. A transport starts at most once.
    case alreadyStarted

    /// A sentence a person can act on, for logs and the command line.
    public var description: String {
        switch self {
        case .invalidConfig(let why): return "invalid transport configuration: \(why)"
        case .alreadyStarted: return "the transport was already started or shut down; create a new one"
        }
    }
}
