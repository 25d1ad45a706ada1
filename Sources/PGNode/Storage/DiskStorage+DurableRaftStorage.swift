import RaftCore

/// `DiskStorage` is what the runtime persists to in production: `persist(_:)`,
/// `createSnapshot(at:membership:data:)` and `latestSnapshot` are durable when they return.
extension DiskStorage: DurableRaftStorage {}
