import RaftCore

extension RaftRuntime {
    /// Runs one client operation and describes the outcome for the wire.
    ///
    /// `.failed` for a write guarantees it was not applied. The runtime's `.timeout` and
    /// `.stopped` for a write do not (it may have been proposed before the node stopped or
    /// the wait ended; the runtime's `.stopped` does not say which), so they are answered
    /// `.outcomeUnknown`.
    func serve(_ op: ClientRequest.Operation) async -> ClientResponse.Outcome {
        let runtime = self
        do {
            switch op {
            case .get(let key, let lin):
                return .value(try await runtime.get(key, linearizable: lin))
            case .list(let prefix, let lin):
                let (rev, items) = try await runtime.list(prefix: prefix, linearizable: lin)
                return .list(revision: rev, items: items.map { KeyedValue(key: $0.key, value: $0.value) })
            case .put(let key, let value, let expected):
                do {
                    return .written(revision: try await runtime.put(key, value, expectedRevision: expected))
                } catch {
                    return Self.writeFailure(error)
                }
            case .delete(let key, let expected):
                do {
                    return .written(revision: try await runtime.delete(key, expectedRevision: expected))
                } catch {
                    return Self.writeFailure(error)
                }
            case .status:
                guard let s = await runtime.status() else { return .failed(.stopped) }
                return .status(NodeStatus(s))
            case .memberStatus:
                return .failed(.unavailable("no agent runs beside this store node"))
            }
        } catch {
            return .failed(error)
        }
    }

    /// How a runtime error for a write is answered: `.timeout` and `.stopped` may come after
    /// proposing, so they are an unknown outcome; every other error is definite.
    static func writeFailure(_ error: StoreError) -> ClientResponse.Outcome {
        switch error {
        case .timeout:
            return .outcomeUnknown(reason: "the node timed out waiting for the write to commit")
        case .stopped:
            return .outcomeUnknown(reason: "the node stopped while the write was in progress")
        default:
            return .failed(error)
        }
    }
}
