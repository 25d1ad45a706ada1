/// The HA decision for one member: from an `HAInput` (the cluster as the store shows it, this
/// node's Raft role and lease, its local Postgres, the time) to the actions that bring the
/// local Postgres in line with the cluster. Pure and deterministic: no clock, no I/O; the same
/// inputs give the same actions, so table tests and the simulator run the code production runs.
///
/// The rules (DESIGN.md, "The HA rules"):
/// - **One writer.** Postgres runs as primary only on the Raft leader while its lease holds.
///   A leader without a valid lease, or a follower whose Postgres is a primary, fences it.
///   (The executor's lease timer also fences on its own; the decision is the second line.)
/// - **Only sound candidates campaign.** A node may start elections only while its Postgres
///   is a running standby of this cluster (or, before bootstrap, could bootstrap it), and its
///   tags allow promotion.
/// - **Failover.** A leader whose Postgres is a standby gathers every reachable member's fresh
///   status (`gatherStatus`), picks the best candidate (`Placement`) and either promotes itself
///   (also when it ranks level with the best but for the name) or hands leadership to the
///   better member; if that transfer does not complete within
///   `transfer_timeout`, it promotes itself when it qualifies.
/// - **Restart in place.** A leader whose own primary crashed starts it again; if it does not
///   come up within `primary_start_timeout`, it hands leadership to the best replica. It does
///   not when `history` shows a later timeline than its data's.
/// - **A leader that cannot keep its primary hands over.** A leader whose lease lapsed while
///   it ran its primary in this term (a slow or lossy link to its followers: they still hear
///   its heartbeats, so none of them would start an election), whose primary was lost again
///   within `primaryLossWindowMs` of a restart in place (a Postgres that keeps crashing), or
///   that has gone `leaselessHandOverMs` without the lease it held, hands leadership to the
///   best replica, once per term, instead of restarting in place. It restarts in place when no
///   replica qualifies (in synchronous modes only the `sync` claim's members do).
/// - **Timelines are recorded before they acknowledge.** In synchronous modes a new primary
///   names its synchronous standbys (and so acknowledges commits) only once `history` holds
///   its timeline, so the restart-in-place rule above always sees a timeline that may hold
///   acknowledged commits.
/// - **Rejoin.** A follower whose data last ran as a primary is rewound from the current
///   primary before it follows (pg_rewind reports "no rewind required" when it did not
///   diverge); when pg_rewind fails it is rebuilt from a base backup (if allowed).
/// - **Identity.** A data directory of another cluster (other system identifier) is never
///   started: the node refuses and says what to do.
public struct HANode: Hashable, Sendable {
    /// Failed actions are retried after this long.
    public static let retryAfterMs: UInt64 = 5_000
    /// A primary whose timeline `history` does not show asks again this often for its row to
    /// be recorded (its commits wait for it in synchronous modes).
    public static let historyRetryMs: UInt64 = 1_000
    /// A former primary that knows of no leader waits this long before it starts in recovery
    /// on its own: a node that just restarted into a live cluster hears from the leader within
    /// an election timeout, and must be rewound from it rather than started (its copy of the
    /// store may not show the promotions it missed).
    public static let leaderlessStartDelayMs: UInt64 = 3_000
    /// A status round older than this is gathered again.
    public static let statusRoundMaxAgeMs: UInt64 = 5_000
    /// A standby whose WAL looks diverged is repaired only after it has not streamed for this
    /// long: while its WAL receiver is down its timeline is known only from its last
    /// checkpoint, which can lag behind a timeline it already follows (a standby repointed
    /// after a switchover looked diverged for a moment); a standby that really diverged never
    /// streams again.
    public static let divergenceGraceMs: UInt64 = 3_000
    /// A leader whose primary is lost again within this long of restarting it in place hands
    /// leadership over instead of restarting it a second time.
    public static let primaryLossWindowMs: UInt64 = 30_000
    /// A leader that held its lease in this term and has been without it this long hands
    /// leadership over: its followers still hear its heartbeats, so none of them would
    /// otherwise start an election. (At once when its primary ran in this term.)
    public static let leaselessHandOverMs: UInt64 = 2_000

    /// The last `setMayCampaign` value emitted (nil: none yet), so it is emitted on change.
    public private(set) var mayCampaign: Bool?
    /// The term the per-term memory below belongs to.
    private var term: UInt64 = 0
    /// Leader: when it began waiting for its own primary to come up.
    private var primaryStartBegan: Instant?
    /// Leader: whether its Postgres ran as primary in `term`.
    private var ranPrimaryInTerm = false
    /// Leader: whether it held its lease in `term`, and since when it has been without it.
    private var heldLeaseInTerm = false
    private var leaselessSince: Instant?
    /// Leader: when its lease last lapsed, in `term`, after its primary ran in that term.
    private var leaseLostAt: Instant?
    /// Leader: when it last restarted in place, in `term`, the primary it had run in that
    /// term, once that restart came up (`pendingRestartAt` until then).
    private var restartedInPlaceAt: Instant?
    private var pendingRestartAt: Instant?
    /// Leader: the transfer it started in `term`, and when.
    private var transfer: PendingTransfer?
    /// Primary: the member set its slots were last synced for (nil: not since it became primary).
    private var slotsSyncedFor: Set<String>?
    /// When the slots were last synced (an unwanted slot still in use is dropped on a later try).
    private var slotsSyncedAt: Instant?
    /// When the primary last asked for its promotion's `history` row to be recorded.
    private var historyRecordedAt: Instant?
    /// The last failure of each kind of action.
    private var failures: [FailureKind: Instant] = [:]
    private var rewindFailed = false
    /// Since when no leader is known (nil: one is known).
    private var leaderlessSince: Instant?
    /// A stopped former primary: since when it knows a leader whose Postgres is not a primary.
    private var noPrimarySince: Instant?
    /// Since when the running standby's WAL receiver has not streamed (nil: it streams, or no
    /// standby runs).
    private var notStreamingSince: Instant?

    /// The primary's synchronous-replication steps.
    private var syncPlanner = SyncPlanner()
    /// When this node's `pre_promote` hook last refused a promotion, and why.
    private var promotionRefused: Refusal?

    struct Refusal: Hashable, Sendable {
        var at: Instant
        var reason: String
    }

    enum FailureKind: Hashable, Sendable { case rewind, rebuild, start, promote, bootstrap }

    struct PendingTransfer: Hashable, Sendable {
        var member: String
        var at: Instant
    }

    /// Planted defects (the simulator's; empty in production).
    package var plantedBugs: HAPlantedBugs = [] {
        didSet { syncPlanner.plantedBug = plantedBugs.contains(.narrowNamesBeforeSync) ? .namesBeforeClaim : nil }
    }

    public init() {}

    /// The actions for `input`, in the order the executor must run them.
    public mutating func decide(_ input: HAInput) -> [HAAction] {
        if input.raft.term != term {
            term = input.raft.term
            transfer = nil
            primaryStartBegan = nil
            ranPrimaryInTerm = false
            heldLeaseInTerm = false
            leaselessSince = nil
            leaseLostAt = nil
            restartedInPlaceAt = nil
            pendingRestartAt = nil
        }
        if input.raft.isLeader {
            if input.holdsLease {
                heldLeaseInTerm = true
                leaselessSince = nil
            } else if heldLeaseInTerm {
                if leaselessSince == nil, ranPrimaryInTerm { leaseLostAt = input.now }
                leaselessSince = leaselessSince ?? input.now
            }
            if input.local.isRunningPrimary {
                ranPrimaryInTerm = true
                if let at = pendingRestartAt { restartedInPlaceAt = at }
                pendingRestartAt = nil
            }
        }
        if !input.local.isRunningPrimary { slotsSyncedFor = nil }
        if input.raft.leader == nil { leaderlessSince = leaderlessSince ?? input.now } else { leaderlessSince = nil }
        if input.raft.leader.flatMap({ input.cluster.members[$0] })?.role == .primary || input.local.hasPostmaster { noPrimarySince = nil }
        if input.local.isRunningReplica, input.local.running?.streaming == false {
            notStreamingSince = notStreamingSince ?? input.now
        } else {
            notStreamingSince = nil
        }
        var actions: [HAAction] = []
        if let refusal = refusal(input) {
            if input.local.hasPostmaster {
                actions.append(.fence(reason: "the data directory is not this cluster's"))
            }
            emitMayCampaign(false, "the data directory cannot be used", into: &actions)
            actions.append(.refuse(reason: refusal))
            if input.raft.isLeader, let handOver = handOver(input, reason: "the leader cannot use its data directory") {
                actions += handOver.filter { if case .transferLeadership = $0 { return true }; return false }
            }
            return actions
        }
        let (may, why) = campaignEligibility(input)
        emitMayCampaign(may, why, into: &actions)
        if input.raft.isLeader, input.holdsLease, input.cluster.systemIdentifier != nil,
           let requested = requestActions(input) {
            // An operator's switchover or failover runs even in maintenance mode.
            actions += requested
        } else if input.raft.isLeader {
            actions += pausable(leaderActions(input), input)
        } else {
            primaryStartBegan = nil
            actions += pausable(followerActions(input), input)
        }
        return actions
    }

    /// The history reasons of promotions an operator asked for.
    public static let requestedPromotionReasons: Set<String> = ["switchover", "manual failover"]

    /// In maintenance mode (`pause`), the actions that change what runs are replaced by a
    /// `wait` naming them; fencing, repointing, slots and refusals go on. The former primary of
    /// an operator's switchover or failover still rejoins (the operator asked for that change).
    private func pausable(_ actions: [HAAction], _ input: HAInput) -> [HAAction] {
        guard input.cluster.config.pause else { return actions }
        let rejoinAsked = input.cluster.history.last.map {
            $0.oldPrimary == input.me && Self.requestedPromotionReasons.contains($0.reason)
        } ?? false
        return actions.map { action in
            switch action {
            case .setMayCampaign, .fence, .follow, .syncSlots, .refuse, .wait, .gatherStatus, .clearFailover,
                 .setSynchronousStandbyNames, .writeSync:
                return action
            case .rewind where rejoinAsked, .startReplica where rejoinAsked:
                return action
            default:
                return .wait(reason: "maintenance mode (pause): not doing \(action.name)")
            }
        }
    }

    /// The leader's part in a due switchover or failover request (nil: no request is due).
    /// The candidate promotes itself; the running primary hands over with `switchover`; a
    /// leader without a running primary hands leadership straight to a failover's candidate.
    private mutating func requestActions(_ input: HAInput) -> [HAAction]? {
        guard let request = input.cluster.failover, request.isDue(atUnixMs: input.wallClockUnixMs) else { return nil }
        let local = input.local, me = input.me
        if request.candidate == me {
            if local.isRunningPrimary {
                return [.clearFailover(reason: "\(request.kind.rawValue) completed: \(me) is the primary")]
            }
            guard local.isRunningReplica else {
                return [.clearFailover(reason: "the candidate \(me) has no running standby to promote")]
            }
            if recentlyFailed(.promote, input.now) { return [.wait(reason: "promotion failed; retrying soon")] }
            if let refused = promotionRefusal(at: input.now) {
                return [.clearFailover(reason: "the candidate \(me) refused the promotion: \(refused)")]
            }
            if request.kind == .failover, let mine = input.cluster.members[me],
               let why = Placement(statuses: [mine], cluster: input.cluster, rules: requestRules(request, input)).excluded[me] {
                return [.clearFailover(reason: "the candidate \(me) cannot be promoted: \(why)")]
            }
            return [.promote(reason: request.kind == .switchover ? "switchover" : "manual failover",
                             oldPrimary: request.leader ?? input.cluster.lastPrimary)]
        }
        if request.kind == .switchover, let leader = request.leader, leader != me {
            return [.clearFailover(reason: "the switchover names \(leader) as primary, but \(me) is the leader")]
        }
        let voters = Set(input.raft.voters.values)
        let others = input.cluster.members.values.filter { $0.name != me && (voters.isEmpty || voters.contains($0.name)) }
        let rules = requestRules(request, input)
        let placement = Placement(statuses: Array(others), cluster: input.cluster, rules: rules)
        let target: MemberStatus
        // Handing over from a running primary needs a candidate that streams from it (it must
        // receive the shutdown checkpoint).
        let needsStream = local.isRunningPrimary
        if let named = request.candidate {
            guard let m = input.cluster.members[named], voters.isEmpty || voters.contains(named) else {
                return [.clearFailover(reason: "the candidate \(named) is not a member with a recent report")]
            }
            if let why = placement.excluded[named] {
                return [.clearFailover(reason: "the candidate \(named) cannot be promoted: \(why)")]
            }
            if needsStream && !m.streaming {
                return [.clearFailover(reason: "the candidate \(named) does not stream from the primary")]
            }
            target = m
        } else {
            guard let best = placement.ranked.first(where: { !needsStream || $0.streaming }) else {
                return [.clearFailover(reason: "no member qualifies for the \(request.kind.rawValue): " + placement.exclusionSummary)]
            }
            target = best
        }
        if local.isRunningPrimary {
            return [.switchover(to: target.name, raftID: target.raftID, kind: request.kind)]
        }
        if request.kind == .switchover {
            return [.clearFailover(reason: "a switchover needs a running primary; \(me)'s Postgres is not one (use failover)")]
        }
        if let t = transfer, t.member == target.name {
            if input.now.milliseconds(since: t.at) < input.cluster.config.transferTimeoutMs {
                return [.wait(reason: "handing leadership to \(t.member) for the failover")]
            }
            return [.clearFailover(reason: "the leadership transfer to \(t.member) did not complete")]
        }
        transfer = PendingTransfer(member: target.name, at: input.now)
        return [.transferLeadership(to: target.name, raftID: target.raftID, reason: "manual failover to \(target.name)")]
    }

    /// The placement rules for a request: a switchover from a running primary needs no `sync`
    /// rule (the candidate receives the shutdown checkpoint); a forced failover skips the lag
    /// and `sync` rules.
    private func requestRules(_ request: FailoverRequest, _ input: HAInput) -> Placement.Rules {
        var rules = Placement.Rules.forRequest(kind: request.kind, force: request.force, primaryRuns: input.local.isRunningPrimary)
        rules.refused = refusedMembers(input)
        return rules
    }

    /// This node, if its `pre_promote` hook refused a promotion within `retryAfterMs`.
    private func refusedMembers(_ input: HAInput) -> [String: String] {
        promotionRefusal(at: input.now).map { [input.me: "its pre_promote hook refused the promotion (\($0))"] } ?? [:]
    }

    /// Why this node's `pre_promote` hook refused a promotion, if it did within `retryAfterMs`
    /// of `now` (the agent reports it, so that every leader passes this member over meanwhile).
    public func promotionRefusal(at now: Instant) -> String? {
        guard let r = promotionRefused, now.milliseconds(since: r.at) < Self.retryAfterMs else { return nil }
        return r.reason
    }

    /// The members the primary keeps a replication slot for: every other member, except one
    /// that cascades from another running standby (`replicatefrom`; it uses no slot here).
    private func slotMembers(_ input: HAInput) -> Set<String> {
        memberNames(input).subtracting([input.me]).filter { name in
            guard let m = input.cluster.members[name], let via = m.tags.replicateFrom, via != input.me else { return true }
            return !(input.cluster.members[via].map(Self.isStreamingStandby) ?? false)
        }
    }

    static func isStreamingStandby(_ m: MemberStatus) -> Bool {
        m.role == .replica && m.state == .running && m.streaming
    }

    /// Whom this follower's standby should stream from: its `replicatefrom` member while that is
    /// a streaming standby of this cluster, else the leader.
    private func desiredUpstream(_ input: HAInput, leader: String) -> String {
        if let via = input.tags.replicateFrom, via != input.me, via != leader,
           let m = input.cluster.members[via], Self.isStreamingStandby(m), m.following != input.me {
            return via
        }
        return leader
    }

    /// Where a new replica takes its base backup: a running member tagged `clonefrom` (the
    /// first by name, so the choice is stable), else the leader.
    private func cloneSource(_ input: HAInput, leader: String) -> String {
        Self.cloneSource(in: input.cluster, me: input.me, leader: leader)
    }

    /// Where member `me` takes a base backup: a running member tagged `clonefrom` (the primary
    /// `leader`, or a streaming standby; the first by name, so the choice is stable), else `leader`.
    public static func cloneSource(in cluster: ClusterView, me: String, leader: String) -> String {
        let tagged = cluster.members.values.filter {
            $0.name != me && $0.tags.cloneFrom && $0.state == .running
                && ($0.role == .primary ? $0.name == leader : isStreamingStandby($0))
        }
        return tagged.map(\.name).sorted().first ?? leader
    }

    /// Feeds back what happened to an action, so retries back off and a failed rewind leads
    /// to a rebuild.
    public mutating func record(_ outcome: HAOutcome) {
        switch outcome {
        case .rewindFailed(let at, _):
            failures[.rewind] = at
            rewindFailed = true
        case .rewindDeferred(let at, _): failures[.rewind] = at
        case .rebuildFailed(let at, _): failures[.rebuild] = at
        case .startFailed(let at, _): failures[.start] = at
        case .promoteFailed(let at, _): failures[.promote] = at
        case .promoteRefused(let at, let reason): promotionRefused = Refusal(at: at, reason: reason)
        case .bootstrapFailed(let at, _): failures[.bootstrap] = at
        case .repaired:
            rewindFailed = false
            failures[.rewind] = nil
            failures[.rebuild] = nil
        }
    }

    // MARK: Rules

    /// Why this node must not run Postgres on its data directory, if it must not.
    private func refusal(_ input: HAInput) -> String? {
        switch input.local.dataDirectory {
        case .unusable(let why):
            return "the data directory cannot be used (\(why)); move it away so this node takes a fresh base backup"
        case .initialized(let c):
            if let sysid = input.cluster.systemIdentifier, c.systemIdentifier != sysid {
                return "the data directory holds another Postgres cluster (system identifier \(c.systemIdentifier)); "
                    + "this cluster's is \(sysid). Move the directory away (or delete it) and this node will take a "
                    + "fresh base backup from the primary, or point data_dir at this cluster's directory."
            }
            return nil
        case .empty:
            return nil
        }
    }

    private func campaignEligibility(_ input: HAInput) -> (Bool, String) {
        guard input.tags.mayBePromoted else { return (false, "its tags forbid promotion") }
        if input.cluster.systemIdentifier == nil {
            return (true, "the cluster is not bootstrapped yet")
        }
        if input.local.isRunningReplica { return (true, "its Postgres is a running standby") }
        if input.raft.isLeader && input.local.isRunningPrimary { return (true, "it runs the primary") }
        return (false, "its Postgres is not a running standby")
    }

    private mutating func emitMayCampaign(_ may: Bool, _ reason: String, into actions: inout [HAAction]) {
        guard mayCampaign != may else { return }
        mayCampaign = may
        actions.append(.setMayCampaign(may, reason: reason))
    }

    private func recentlyFailed(_ kind: FailureKind, _ now: Instant) -> Bool {
        guard let at = failures[kind] else { return false }
        return now.milliseconds(since: at) < Self.retryAfterMs
    }

    // MARK: Leader

    private mutating func leaderActions(_ input: HAInput) -> [HAAction] {
        let local = input.local
        if plantedBugs.contains(.promoteWithoutLease), !input.holdsLease, local.isRunningReplica,
           input.cluster.systemIdentifier != nil {
            return failoverActions(input)
        }
        guard input.holdsLease else {
            if local.mayAcceptWrites { return [.fence(reason: "leader without a valid lease")] }
            if let since = leaselessSince, ranPrimaryInTerm || input.now.milliseconds(since: since) >= Self.leaselessHandOverMs,
               let handOver = handOverOnce(input, reason: "the leader has been without its lease for \(input.now.milliseconds(since: since)) ms") {
                return handOver
            }
            return [.wait(reason: "leader, waiting for a quorum-renewed lease")]
        }
        guard input.cluster.systemIdentifier != nil else { return bootstrapActions(input) }
        if local.dataDirectory == .empty {
            return handOver(input, reason: "the leader has no data directory")
                ?? [.wait(reason: "leader without data, and no member to hand leadership to")]
        }
        if local.isRunningPrimary {
            primaryStartBegan = nil
            var actions: [HAAction] = []
            let others = slotMembers(input)
            let wanted = Set(others.map(ReplicationSlot.name(for:)))
            let stray = local.running.map { $0.slots != wanted } ?? false
            let retry = stray && (slotsSyncedAt.map { input.now.milliseconds(since: $0) >= Self.retryAfterMs } ?? true)
            if slotsSyncedFor != others || retry {
                // Again later while the slots differ from the wanted ones: a slot still in use
                // when a member moved to cascading replication cannot be dropped at once.
                slotsSyncedFor = others
                slotsSyncedAt = input.now
                actions.append(.syncSlots(others))
            }
            // No commit is acknowledged on a timeline the store's `history` does not show: a
            // later leader whose data ends on an older timeline reads `history` to decide
            // whether it may restart in place, and would otherwise discard this timeline's
            // acknowledged commits. In synchronous modes the primary starts with
            // `SynchronousStandbyNames.none`, so withholding the sync steps until the row is
            // recorded keeps every commit waiting (off mode acknowledges at once, within the
            // loss it allows). Missing ancestors' rows are asked for the same way (the executor
            // reads them from the timeline history file); they do not hold commits back.
            if let r = local.running, !input.cluster.recordsAncestry(of: r.timeline) {
                if historyRecordedAt.map({ input.now.milliseconds(since: $0) >= Self.historyRetryMs }) ?? true {
                    historyRecordedAt = input.now
                    actions.append(.recordPromotion(timeline: r.timeline))
                }
                if r.timeline > max(1, input.cluster.latestTimeline ?? 0), input.cluster.config.synchronousMode != .off {
                    return actions.isEmpty ? [.wait(reason: "primary, recording its timeline in history before it acknowledges commits")] : actions
                }
            }
            if let r = local.running, let wal = r.walPosition,
               let step = syncPlanner.next(config: input.cluster.config, me: input.me, inEffect: r.synchronousStandbyNames,
                                           wal: wal, replication: r.replication, members: input.cluster.members,
                                           current: input.cluster.sync) {
                switch step {
                case .setNames(let names, let reason): actions.append(.setSynchronousStandbyNames(names, reason: reason))
                case .writeState(let state, let reason): actions.append(.writeSync(state, reason: reason))
                }
            }
            return actions
        }
        if local.isRunningReplica { return failoverActions(input) }
        if local.process == .running { return [.wait(reason: "Postgres runs but does not answer queries yet")] }
        guard case .initialized(let control) = local.dataDirectory else { return [] }
        if control.lastRanAsPrimary {
            // Our own primary is down (crashed, or stopped): restart it in place, within
            // primary_start_timeout. It may be primary only if no later promotion happened.
            if let latest = input.cluster.latestTimeline, control.timeline < latest,
               input.cluster.history.last?.newPrimary != input.me {
                if let handOver = handOver(input, reason: "this node's data ends on timeline \(control.timeline) but timeline \(latest) exists") {
                    return handOver
                }
                // Still the `sync` claim's primary: start in recovery, to be promoted (onto a new
                // timeline) by the failover rule, which always admits the claim's primary.
                if holdsTheLastClaim(input), !recentlyFailed(.start, input.now) { return [.startReplica(following: nil)] }
                return [.wait(reason: "this node's data is behind timeline \(latest) and no member can take over")]
            }
            if ranPrimaryInTerm, let lost = leaseLostAt, input.now.milliseconds(since: lost) < Self.primaryLossWindowMs,
               let handOver = handOverOnce(input, reason: "its primary was fenced when its lease lapsed \(input.now.milliseconds(since: lost)) ms ago") {
                return handOver
            }
            if ranPrimaryInTerm, let last = restartedInPlaceAt, input.now.milliseconds(since: last) < Self.primaryLossWindowMs,
               let handOver = handOverOnce(input, reason: "its primary was lost again \(input.now.milliseconds(since: last)) ms after a restart in place") {
                return handOver
            }
            let began = primaryStartBegan ?? input.now
            primaryStartBegan = began
            if input.now.milliseconds(since: began) >= input.cluster.config.primaryStartTimeoutMs {
                if let handOver = handOver(input, reason: "Postgres did not come up as primary within primary_start_timeout") {
                    return handOver
                }
                // Nobody can take over: keep trying in place (a new timeout period).
                primaryStartBegan = input.now
            }
            if case .starting = local.process { return [.wait(reason: "starting Postgres as primary")] }
            if recentlyFailed(.start, input.now) { return [.wait(reason: "Postgres failed to start; retrying soon")] }
            if ranPrimaryInTerm { pendingRestartAt = input.now }
            return [.startPrimary]
        }
        if case .starting = local.process { return [.wait(reason: "starting Postgres as a standby")] }
        if recentlyFailed(.start, input.now) { return [.wait(reason: "Postgres failed to start; retrying soon")] }
        return [.startReplica(following: nil)]
    }

    private mutating func bootstrapActions(_ input: HAInput) -> [HAAction] {
        switch input.local.dataDirectory {
        case .empty:
            if recentlyFailed(.bootstrap, input.now) { return [.wait(reason: "bootstrap failed; retrying soon")] }
            if case .starting = input.local.process { return [.wait(reason: "bootstrapping")] }
            return [.bootstrap]
        case .initialized(let c):
            // Patroni's behaviour: a leader that finds a data directory but no cluster takes it
            // over as the cluster's.
            return [.adoptExistingCluster(systemIdentifier: c.systemIdentifier)]
        case .unusable:
            return []  // refused earlier
        }
    }

    private mutating func failoverActions(_ input: HAInput) -> [HAAction] {
        var round = input.statusRound
        if plantedBugs.contains(.skipStatusRound) {
            round = StatusRound(term: input.raft.term, statuses: input.cluster.members, at: input.now)
        }
        guard let round, round.term == input.raft.term,
              input.now.milliseconds(since: round.at) <= Self.statusRoundMaxAgeMs else {
            return [.gatherStatus(term: input.raft.term)]
        }
        var rules = Placement.Rules(refused: refusedMembers(input))
        rules.plantedBugs = plantedBugs
        let placement = Placement(statuses: Array(round.statuses.values), cluster: input.cluster, rules: rules)
        guard let best = placement.best else {
            return [.wait(reason: "no member qualifies for promotion: " + placement.exclusionSummary)]
        }
        let oldPrimary = input.cluster.lastPrimary ?? input.cluster.history.last?.newPrimary
        if best.name == input.me || placement.isLevelWithBest(input.me) {
            if recentlyFailed(.promote, input.now) { return [.wait(reason: "promotion failed; retrying soon")] }
            return [.promote(reason: "failover", oldPrimary: oldPrimary)]
        }
        if let t = transfer {
            if input.now.milliseconds(since: t.at) < input.cluster.config.transferTimeoutMs {
                return [.wait(reason: "handing leadership to \(t.member)")]
            }
            // The transfer did not complete: promote ourselves if we qualify at all.
            if placement.qualifies(input.me) && !recentlyFailed(.promote, input.now) {
                return [.promote(reason: "failover (transfer to \(t.member) did not complete)", oldPrimary: oldPrimary)]
            }
        }
        transfer = PendingTransfer(member: best.name, at: input.now)
        return [.transferLeadership(to: best.name, raftID: best.raftID,
                                    reason: "\(best.name) is the better primary (\(placement.describe(best)))")]
    }

    /// Hands leadership to the best member by the periodic reports (running standbys of this
    /// cluster), or nil if there is none.
    private mutating func handOver(_ input: HAInput, reason: String) -> [HAAction]? {
        let voters = Set(input.raft.voters.values)
        let others = input.cluster.members.values.filter { $0.name != input.me && (voters.isEmpty || voters.contains($0.name)) }
        let placement = Placement(statuses: Array(others), cluster: input.cluster,
                                  rules: Placement.Rules(refused: refusedMembers(input)))
        guard let best = placement.best else { return nil }
        if let t = transfer, input.now.milliseconds(since: t.at) < input.cluster.config.transferTimeoutMs {
            return [.wait(reason: "handing leadership to \(t.member)")]
        }
        transfer = PendingTransfer(member: best.name, at: input.now)
        return [.transferLeadership(to: best.name, raftID: best.raftID, reason: reason)]
    }

    /// `handOver`, unless a transfer of this term already ran out its `transfer_timeout` (nil
    /// then: the caller goes on with its own primary rather than retrying a transfer forever).
    private mutating func handOverOnce(_ input: HAInput, reason: String) -> [HAAction]? {
        if let t = transfer, input.now.milliseconds(since: t.at) >= input.cluster.config.transferTimeoutMs { return nil }
        return handOver(input, reason: reason)
    }

    /// How a data directory that may have diverged from the primary is brought back: pg_rewind
    /// (a no-op when it did not diverge), or a base backup when rewinding is off or failed and
    /// `rebuild_on_rewind_failure` allows it.
    private func repairActions(_ input: HAInput, leader: String) -> [HAAction] {
        let config = input.cluster.config
        if config.usePgRewind && !rewindFailed {
            if recentlyFailed(.rewind, input.now) { return [.wait(reason: "pg_rewind could not run; retrying soon")] }
            return [.rewind(from: leader)]
        }
        guard config.rebuildOnRewindFailure || !config.usePgRewind else {
            return [.wait(reason: "pg_rewind failed and rebuild_on_rewind_failure is off; reinitialize this member")]
        }
        if recentlyFailed(.rebuild, input.now) { return [.wait(reason: "the base backup failed; retrying soon")] }
        return [.rebuild(from: leader)]
    }

    /// Whether a standby on `r.timeline` holds WAL beyond the fork point of the next timeline
    /// in the history (so it cannot follow the newer timeline without a rewind).
    private func diverged(_ r: RunningPostgres, _ cluster: ClusterView, upstream: MemberStatus) -> Bool {
        // A standby on a newer timeline than the primary's cannot follow it: a member on an
        // older timeline was promoted and reused a timeline number (found by the HA simulator).
        if upstream.role == .primary, let tl = upstream.timeline, r.timeline > tl { return true }
        let reached = max(r.receivedLSN ?? .zero, r.replayedLSN ?? .zero)
        // Where the rows name their parents: Postgres follows a newer timeline only if its own
        // is an ancestor of it, and only up to where the child of its own forked. Timeline
        // numbers are unique, so a standby on a timeline off the primary's path (a promotion
        // the primary never descended from) diverged; ancestors have lower numbers, so a path
        // that ends below the standby's timeline without it proves that.
        if let primaryTimeline = upstream.role == .primary ? upstream.timeline : cluster.latestTimeline,
           r.timeline < primaryTimeline {
            let path = cluster.ancestry(of: primaryTimeline)
            if let child = path.first(where: { $0.parent == r.timeline }) { return reached > child.lsn }
            if let oldest = path.last, let end = oldest.parent, end < r.timeline { return true }
        }
        // Otherwise (rows without parents): the first promotion after its timeline (a promotion whose history row was never
        // written — its primary died first — leaves a gap; the next row still bounds the fork).
        guard let latest = cluster.latestTimeline, r.timeline < latest,
              let fork = cluster.history.first(where: { $0.timeline > r.timeline })?.lsn else { return false }
        return reached > fork
    }

    private func memberNames(_ input: HAInput) -> Set<String> {
        Set(input.cluster.members.keys).union(input.raft.voters.values)
    }

    /// Whether this node's data may be promoted again although `history` shows a later
    /// timeline: in synchronous modes, while the `sync` key is still this node's claim, no later
    /// primary acknowledged a commit (a primary writes its own claim before it names a
    /// synchronous standby, `SyncPlanner`), so this node holds every acknowledged commit.
    private func holdsTheLastClaim(_ input: HAInput) -> Bool {
        input.cluster.config.synchronousMode != .off && input.cluster.sync?.leader == input.me
    }

    // MARK: Follower

    private mutating func followerActions(_ input: HAInput) -> [HAAction] {
        let local = input.local
        if local.mayAcceptWrites { return [.fence(reason: "this node is not the Raft leader")] }
        if case .starting = local.process { return [.wait(reason: "Postgres is starting")] }
        if local.process == .running && local.running == nil { return [.wait(reason: "Postgres runs but does not answer queries yet")] }
        guard input.cluster.systemIdentifier != nil else {
            return [.wait(reason: "the cluster is not bootstrapped yet; waiting for the leader")]
        }
        let stopped = local.process == .stopped || { if case .crashed = local.process { return true }; return false }()
        guard let leader = input.raft.leader, let upstream = input.cluster.members[leader],
              upstream.state == .running, upstream.role != .uninitialized else {
            // No usable upstream: keep what runs; a stopped standby starts in recovery so it may
            // campaign. A former primary stays down unless its data is the newest timeline.
            if stopped, case .initialized(let c) = local.dataDirectory, !recentlyFailed(.start, input.now) {
                let newest = input.cluster.latestTimeline.map { c.timeline >= $0 } ?? true
                    || input.cluster.history.last?.newPrimary == input.me || holdsTheLastClaim(input)
                let waited = leaderlessSince.map { input.now.milliseconds(since: $0) >= Self.leaderlessStartDelayMs } ?? false
                if !c.lastRanAsPrimary || (newest && waited) { return [.startReplica(following: nil)] }
            }
            return [.wait(reason: "no leader with a running Postgres is known")]
        }
        switch local.dataDirectory {
        case .empty:
            if recentlyFailed(.rebuild, input.now) { return [.wait(reason: "the base backup failed; retrying soon")] }
            return [.rebuild(from: cloneSource(input, leader: leader))]
        case .unusable:
            return []
        case .initialized(let c):
            if stopped {
                let behindTimeline = input.cluster.latestTimeline.map { c.timeline < $0 } ?? false
                if c.lastRanAsPrimary || behindTimeline {
                    // It may hold WAL the current primary never had: rewind (a no-op if it did
                    // not diverge) from the primary before following.
                    guard upstream.role == .primary else {
                        // No primary runs. If no promotion happened after this node's own (its data
                        // is the newest), it starts in recovery after a while, so that it can be
                        // promoted again: it holds every commit it acknowledged, and in synchronous
                        // modes it may be the only member known to.
                        let newest = input.cluster.latestTimeline.map { c.timeline >= $0 } ?? true
                            || input.cluster.history.last?.newPrimary == input.me || holdsTheLastClaim(input)
                        let since = noPrimarySince ?? input.now
                        noPrimarySince = since
                        if c.lastRanAsPrimary, newest, input.now.milliseconds(since: since) >= Self.leaderlessStartDelayMs,
                           !recentlyFailed(.start, input.now) {
                            return [.startReplica(following: nil)]
                        }
                        // A standby that never ran as primary, behind the newest timeline: in
                        // recovery it cannot write, and its WAL position counts for the `sync`
                        // claim's read quorum (kept down, it left a leader unable to promote
                        // anyone; HA simulator, seed 20 in quorum mode). It is rewound, if it
                        // diverged, once a primary runs.
                        if !c.lastRanAsPrimary, !recentlyFailed(.start, input.now) { return [.startReplica(following: nil)] }
                        return [.wait(reason: "a former primary waits for the new primary before rewinding")]
                    }
                    return repairActions(input, leader: leader)
                }
                if recentlyFailed(.start, input.now) { return [.wait(reason: "Postgres failed to start; retrying soon")] }
                return [.startReplica(following: desiredUpstream(input, leader: leader))]
            }
            if let r = local.running, local.isRunningReplica, !r.streaming, diverged(r, input.cluster, upstream: upstream),
               let since = notStreamingSince, input.now.milliseconds(since: since) >= Self.divergenceGraceMs {
                // Its WAL runs past the point where the next timeline forked: it cannot stream
                // from the new primary until it is rewound.
                guard upstream.role == .primary else {
                    return [.wait(reason: "this standby diverged from the primary's timeline; waiting for the new primary")]
                }
                return repairActions(input, leader: leader)
            }
            let upstreamName = desiredUpstream(input, leader: leader)
            if local.isRunningReplica, local.running?.following != upstreamName {
                // A new leader that is still a standby is about to promote (or hand over): a
                // standby repointed at it now would cascade from it and, at the promotion, wait
                // for the new timeline over the old connection (10 s measured); it follows once
                // the leader reports itself primary.
                if upstreamName == leader && upstream.role != .primary {
                    return [.wait(reason: "the leader \(leader) is not a primary yet; following it once it is")]
                }
                return [.follow(upstreamName)]
            }
            return []
        }
    }
}
