import NIOCore
import RaftCore

/// A leader lease as the runtime hands it out: the term it belongs to and the monotonic
/// instant at which it lapses.
///
/// The deadline is computed from the tick at which the quorum-acknowledged heartbeat round
/// was sent, which is never later than the real send, plus `RaftConfig.leaseTicks`; see
/// `LeaderLease` for what holds until then and under which clock assumption. A fence must
/// check `isValid()` at the moment it relies on the lease, not at the moment it obtained it.
public struct HeldLease: Hashable, Sendable {
    /// The term of the leadership the lease belongs to.
    public var term: Term
    /// The monotonic instant (`NIODeadline`, uptime clock) at which the lease lapses.
    public var deadline: NIODeadline

    public init(term: Term, deadline: NIODeadline) {
        self.term = term
        self.deadline = deadline
    }

    /// Whether the lease still holds at `now`.
    public func isValid(at now: NIODeadline = .now()) -> Bool { now < deadline }

    /// Time left at `now` (zero once lapsed).
    public func remaining(at now: NIODeadline = .now()) -> TimeAmount {
        now < deadline ? deadline - now : .zero
    }
}
