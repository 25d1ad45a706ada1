/// Handing work to the application and taking it back (see `Ready`).
extension RaftNode {
    var softState: SoftState { SoftState(role: role, leader: leader) }

    /// Whether `ready()` would return anything.
    public var hasReady: Bool {
        if readyOutstanding { return false }
        return softState != lastSoftState || hardState != lastHardState
            || !log.unstable.entries.isEmpty || log.unstable.snapshot != nil
            || !messages.isEmpty || !messagesAfterPersist.isEmpty
            || log.hasEntriesToApply || !readStates.isEmpty
    }

    /// Collects everything to persist, send and apply. Call `advance(_:)` with the result
    /// when done; calling `ready()` twice without `advance` is a programming error.
    public mutating func ready() -> Ready {
        precondition(!readyOutstanding, "RaftNode.ready() called again before advance()")
        var rd = Ready()
        let soft = softState
        if soft != lastSoftState {
            rd.softState = soft
            lastSoftState = soft
        }
        let hard = hardState
        if hard != lastHardState {
            rd.hardState = hard
            lastHardState = hard
        }
        rd.entries = log.unstable.entries
        rd.snapshot = log.unstable.snapshot
        if log.hasEntriesToApply {
            rd.committedEntries = log.entriesToApply(maxBytes: config.maxApplyBytesPerReady)
            if let last = rd.committedEntries.last { log.applying = last.index }
        }
        // A message stamped with a term this node has since left may promise what is no
        // longer true: an acknowledgement of entries that a newer leader's append replaced
        // before they were persisted, or a vote the newer term superseded. Drop them
        // (losing a message is always safe in Raft).
        let current = term
        let early = messages.filter { $0.term >= current }
        let late = messagesAfterPersist.filter { $0.term >= current }
        counters.droppedOutdatedReplies += messages.count + messagesAfterPersist.count - early.count - late.count
        if config.plantedBugs.contains(.replyBeforePersist) {
            rd.messages = early + late
        } else {
            rd.messages = early
            rd.messagesAfterPersist = late
        }
        rd.readStates = readStates
        messages = []
        messagesAfterPersist = []
        readStates = []
        readyOutstanding = true
        return rd
    }

    /// Tells the node that the application persisted, sent and applied `rd` as `Ready`
    /// requires. The leader counts its own copy of the entries towards commit only now.
    public mutating func advance(_ rd: Ready) {
        readyOutstanding = false
        if let s = rd.snapshot {
            log.unstable.stableSnapshotTo(s.metadata.index)
            log.applied = max(log.applied, s.metadata.index)
            log.applying = max(log.applying, s.metadata.index)
        }
        if let last = rd.entries.last {
            log.unstable.stableTo(last.index, term: last.term)
        }
        if let last = rd.committedEntries.last {
            log.applied = max(log.applied, last.index)
        }
        if role == .leader, tracker.progress[id] != nil {
            if tracker.progress[id]!.maybeUpdate(log.lastStableIndex) {
                maybeCommit()
            }
        }
    }
}
