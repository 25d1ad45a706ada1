/// A pending planned change of primary, as the store's `failover` key holds it (Patroni's
/// `/failover` key): written by `POST /switchover` or `POST /failover`, carried out by the
/// leader's HA loop, and deleted once the candidate runs as primary or the request cannot
/// be carried out.
public struct FailoverRequest: Hashable, Sendable, Codable {
    /// `switchover` names the current primary (`leader`) and hands over with a clean
    /// shutdown; `failover` names only the `candidate` and proceeds whatever the primary's state.
    public enum Kind: String, Hashable, Sendable, Codable {
        case switchover
        case failover
    }

    public var kind: Kind
    /// Switchover: the member that must be primary when the request is carried out.
    public var leader: String?
    /// The member to promote; nil lets the leader pick the best replica (the leader writes its
    /// choice here before it hands over, so the candidate knows it was chosen).
    public var candidate: String?
    /// Not before this wall-clock time (Unix milliseconds); nil: at once.
    public var scheduledAtUnixMs: UInt64?
    /// A unique id, so the requester can tell its own request's outcome.
    public var id: String
    /// When it was requested (Unix milliseconds).
    public var requestedAtUnixMs: UInt64
    /// Failover only: promote the candidate even if `maximum_lag_on_failover` or the `sync`
    /// key forbid it (the operator accepts losing what it lacks).
    public var force: Bool

    public init(kind: Kind, leader: String? = nil, candidate: String? = nil, scheduledAtUnixMs: UInt64? = nil,
                id: String, requestedAtUnixMs: UInt64, force: Bool = false) {
        self.force = force
        self.kind = kind
        self.leader = leader
        self.candidate = candidate
        self.scheduledAtUnixMs = scheduledAtUnixMs
        self.id = id
        self.requestedAtUnixMs = requestedAtUnixMs
    }

    /// Whether it is due at wall-clock time `nowUnixMs`.
    public func isDue(atUnixMs nowUnixMs: UInt64) -> Bool {
        scheduledAtUnixMs.map { nowUnixMs >= $0 } ?? true
    }

    enum CodingKeys: String, CodingKey {
        case kind, leader, candidate, scheduledAtUnixMs = "scheduled_at_ms", id, requestedAtUnixMs = "requested_at_ms", force
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        leader = try c.decodeIfPresent(String.self, forKey: .leader)
        candidate = try c.decodeIfPresent(String.self, forKey: .candidate)
        scheduledAtUnixMs = try c.decodeIfPresent(UInt64.self, forKey: .scheduledAtUnixMs)
        id = try c.decode(String.self, forKey: .id)
        requestedAtUnixMs = try c.decode(UInt64.self, forKey: .requestedAtUnixMs)
        force = try c.decodeIfPresent(Bool.self, forKey: .force) ?? false
    }
}
