import Logging
import RaftCore

extension Logger {
    /// The warning logged when a connection is closed because of what the peer sent or
    /// failed to send: `closing connection: <detail>` with metadata `peer.address`,
    /// `peer.node` (`?` when unknown) and `reason` (a stable code such as `badProof`).
    ///
    /// Rate-limited per reason by `limiter`: at most one line per reason per interval; a line
    /// after suppressed ones says how many (`log.suppressed` metadata and the message). The
    /// caller counts every refusal in its counters regardless.
    func connectionClosed(address: String, node: NodeID?, reason: String, detail: String, limiter: LogRateLimiter) {
        guard case .log(let suppressed) = limiter.admit(reason) else { return }
        var metadata: Logger.Metadata = [
            "peer.address": "\(address)",
            "peer.node": "\(node.map { "\($0.rawValue)" } ?? "?")",
            "reason": "\(reason)",
        ]
        var message = "closing connection: \(detail)"
        if suppressed > 0 {
            metadata["log.suppressed"] = "\(suppressed)"
            message += " (\(suppressed) more refusals for \(reason) were not logged since the last line; the counters count them all)"
        }
        warning("\(message)", metadata: metadata)
    }
}
