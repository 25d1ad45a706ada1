/// Where a peer listens for transport connections: a host name or IP literal and a TCP port.
///
/// A named struct rather than a `(host:, port:)` tuple so that peer tables are `Hashable` and can
/// be compared; `TransportConfig` and `PeerTransport.updatePeers(_:)` also accept tuples.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// A host name or an IPv4/IPv6 literal, resolved on every connection attempt.
    public var host: String
    /// The TCP port, 1...65535 for a peer that can be reached.
    public var port: Int

    /// The address `host:port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (IPv6 literals in brackets), for logs.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
