/// The HA decision for one member: from an `HAInput` to the actions that bring the local
/// Postgres in line with the cluster (DESIGN.md, "The HA rules"). Pure and deterministic.
public struct HANode: Hashable, Sendable {
    public init() {}

    public mutating func decide(_ input: HAInput) -> [HAAction] { [] }

    public mutating func record(_ outcome: HAOutcome) {}
}
