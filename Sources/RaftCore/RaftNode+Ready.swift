/// Handing work to the application and taking it back (see `Ready`).
extension RaftNode {
    var softState: SoftState { SoftState(role: role, leader: leader) }

    /// Whether `ready()` would return anything.
    public var hasReady: Bool {
        if readyOutstanding { return false }
        if !readsForNextRound.isEmpty && role == .leader { return true }
        return softState != lastSoftState || hardState != lastHardState
            || !log.unstable.entries.isEmpty || log.unstable.snapshot != nil
            || !messages.isEmpty || !messagesAfterPersist.isEmpty
            || log.hasEntriesToApply || !readStates.isEmpty
    }

    /// Collects everything to persist, send and apply. Call `advance(_:)` with the result
    /// when done; calling `ready()` twice without `advance` is a programming error.
    public mutating func ready() -> Ready {
        precondition(!readyOutstanding, "RaftNode.ready() called again before advance()")
        flushReadsForNextRound()
        var rd = Ready()
        let soft = softState
        if soft != lastSoftState {
            rd.softState = soft
            lastSoftState = soft
        }
        let hard = hardState
        // A new term or vote must be durable before this node acts in it: a single voter
        // that won at once would otherwise send term-T appends before HardState(T) is on disk.
        let electoralChange = hard.term != lastHardState.term || hard.vote != lastHardState.vote
        if hard != lastHardState {
            rd.hardState = hard
            lastHardState = hard
        }
        rd.entries = log.unstable.entries
        rd.snapshot = log.unstable.snapshot
        if log.hasEntriesToApply && storageFailure == nil {
            do {
                rd.committedEntries = try log.entriesToApply(maxBytes: config.maxApplyBytesPerReady)
            } catch {
                // The storage lost entries it had confirmed: nothing more can be applied.
                storageFailure = error
                counters.storageReadFailures += 1
            }
            if let last = rd.committedEntries.last { log.applying = last.index }
        }
        // A message stamped with a term this node has since left may promise what is no
        // longer true: an acknowledgement of entries that a newer leader's append replaced
        // before they were persisted, or a vote the newer term superseded. Drop them
        // (losing a message is always safe in Raft).
        let early = currentTermOnly(messages)
        let late = currentTermOnly(messagesAfterPersist)
        if config.plantedBugs.contains(.replyBeforePersist) {
            rd.messages = early + late
        } else if electoralChange {
            rd.messagesAfterPersist = early + late
        } else {
            rd.messages = early
            rd.messagesAfterPersist = late
        }
        outstandingElectoralChange = electoralChange
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
        outstandingElectoralChange = false
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

extension RaftNode {
    /// The `messagesAfterPersist` of `rd` that may still be sent once its write is durable:
    /// those stamped with the current term. A runtime that persists asynchronously must send
    /// these, not `rd.messagesAfterPersist` as such, because the node may have moved to a
    /// newer term while the write was under way, and an acknowledgement of the older term
    /// could promise entries that the newer leader's appends are about to replace. (When
    /// `advance` follows `ready` with no step in between, this is all of them.)
    public mutating func messagesAfterPersisting(_ rd: Ready) -> [Message] {
        currentTermOnly(rd.messagesAfterPersist)
    }

    /// `messages` without those stamped with a term this node has left (counted).
    mutating func currentTermOnly(_ messages: [Message]) -> [Message] {
        let current = term
        let out = messages.filter { $0.term >= current }
        counters.droppedOutdatedReplies += messages.count - out.count
        return out
    }

    /// Messages that may be sent right now, without waiting for a `Ready`: heartbeats,
    /// appends, pre-votes — what `Ready.messages` would carry. A runtime that persists a
    /// `Ready` asynchronously calls this while the write is under way (after ticks and
    /// steps), so a slow disk delays commits, never heartbeats. Returns nothing while a term
    /// or vote change is not yet durable (it waits for the next `Ready` then), and never a
    /// message that must wait for persistence.
    public mutating func takeMessagesToSendNow() -> [Message] {
        flushReadsForNextRound()
        if outstandingElectoralChange || config.plantedBugs.contains(.replyBeforePersist) { return [] }
        if term != lastHardState.term || vote != lastHardState.vote { return [] }
        guard !messages.isEmpty else { return [] }
        let out = currentTermOnly(messages)
        messages = []
        return out
    }
}
