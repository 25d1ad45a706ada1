import NIOConcurrencyHelpers

/// Lets at most one log line per key through per `interval`, and counts the lines it holds
/// back, so that a flood of bad connections cannot flood the log. Thread-safe; share one
/// per transport or server.
///
/// Guarantees: the first line for a key is always admitted; after that, a line is admitted
/// only once `interval` has passed since the last admitted line for that key, and it carries
/// the number of lines suppressed for the key since then. Suppression affects only logging:
/// callers count every event in their counters. Keys must come from a small fixed set (refusal
/// reasons), since each one ever seen is remembered.
final class LogRateLimiter: Sendable {
    /// What the caller should do with one line.
    enum Decision: Equatable {
        /// Log it, mentioning `suppressed` lines for the same key held back since the last one.
        case log(suppressed: Int)
        /// Don't log it (it was counted).
        case suppress
    }

    private struct KeyState {
        var lastLogged: Duration
        var suppressed: Int
    }

    let interval: Duration
    private let now: @Sendable () -> Duration
    private let state = NIOLockedValueBox<[String: KeyState]>([:])

    /// - Parameters:
    ///   - interval: the least time between two admitted lines with the same key.
    ///   - now: the current time as an offset from any fixed origin (monotonic); tests inject it.
    init(interval: Duration = .seconds(1), now: (@Sendable () -> Duration)? = nil) {
        self.interval = interval
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { ContinuousClock.now - origin }
        }
    }

    /// Decides about one line for `key` now.
    func admit(_ key: String) -> Decision {
        let t = now()
        return state.withLockedValue { states in
            guard var s = states[key] else {
                states[key] = KeyState(lastLogged: t, suppressed: 0)
                return .log(suppressed: 0)
            }
            if t - s.lastLogged >= interval {
                let suppressed = s.suppressed
                s = KeyState(lastLogged: t, suppressed: 0)
                states[key] = s
                return .log(suppressed: suppressed)
            }
            s.suppressed += 1
            states[key] = s
            return .suppress
        }
    }
}
