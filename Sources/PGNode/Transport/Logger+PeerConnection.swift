import Logging
import RaftCore

extension Logger {
    /// The one warning logged when a connection is closed because of what the peer sent or
    /// failed to send: `closing connection: <detail>` with metadata `peer.address`,
    /// `peer.node` (`?` when unknown) and `reason` (a stable code such as `badProof`).
    func connectionClosed(address: String, node: NodeID?, reason: String, detail: String) {
        warning("closing connection: \(detail)", metadata: [
            "peer.address": "\(address)",
            "peer.node": "\(node.map { "\($0.rawValue)" } ?? "?")",
            "reason": "\(reason)",
        ])
    }
}
