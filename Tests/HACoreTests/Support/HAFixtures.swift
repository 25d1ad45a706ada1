@testable import HACore

/// Small builders for `HANode` inputs. Every builder has defaults for a healthy three-member
/// cluster ("a", "b", "c"; Raft ids 1, 2, 3) so a test only spells out what it is about.
enum Fx {
    /// This cluster's Postgres system identifier.
    static let sysid: UInt64 = 7_300_000_000_000_000_001
    /// Another cluster's.
    static let otherSysid: UInt64 = 7_300_000_000_000_000_999
    static let voters: [UInt64: String] = [1: "a", 2: "b", 3: "c"]
    /// The default "now" of an input.
    static let now: UInt64 = 100_000
    /// The default term.
    static let term: UInt64 = 7

    static func t(_ ms: UInt64) -> Instant { Instant(milliseconds: ms) }

    static func raftID(_ name: String) -> UInt64 {
        voters.first { $0.value == name }?.key ?? 99
    }

    // MARK: Members (periodic reports and status-round answers)

    /// A member report; the default is a running, streaming standby of this cluster at LSN 1000.
    static func member(_ name: String, role: MemberRole = .replica, state: PostgresRunState = .running,
                       sysid: UInt64? = Fx.sysid, timeline: UInt32? = 1, lsn: UInt64? = 1_000,
                       replayed: UInt64? = nil, tags: Tags = Tags(), following: String? = nil) -> MemberStatus {
        MemberStatus(name: name, raftID: raftID(name), role: role, state: state, host: "10.0.0.\(raftID(name))",
                     port: 5432, systemIdentifier: sysid, timeline: timeline,
                     walPosition: role == .primary ? lsn.map { LSN($0) } : nil,
                     receivedLSN: role == .primary ? nil : lsn.map { LSN($0) },
                     replayedLSN: replayed.map { LSN($0) }, streaming: role == .replica && state == .running,
                     following: following, tags: tags)
    }

    static func primary(_ name: String, lsn: UInt64 = 1_000, timeline: UInt32 = 1) -> MemberStatus {
        member(name, role: .primary, timeline: timeline, lsn: lsn)
    }

    static func members(_ ms: MemberStatus...) -> [String: MemberStatus] {
        Dictionary(uniqueKeysWithValues: ms.map { ($0.name, $0) })
    }

    static func history(_ timelines: UInt32..., newPrimary: String = "a") -> [HistoryRow] {
        timelines.map { HistoryRow(timeline: $0, lsn: LSN(UInt64($0) * 100), atUnixMs: 0, reason: "failover",
                                   oldPrimary: nil, newPrimary: newPrimary) }
    }

    /// The default periodic reports: "a" runs the primary, "b" and "c" stream from it.
    static let healthyMembers = members(primary("a"), member("b", following: "a"), member("c", following: "a"))

    static func cluster(sysid: UInt64? = Fx.sysid, members: [String: MemberStatus] = Fx.healthyMembers, lastPrimaryLSN: UInt64? = nil,
                        history: [HistoryRow] = [], config: DynamicConfig = DynamicConfig()) -> ClusterView {
        ClusterView(systemIdentifier: sysid, members: members, lastPrimaryLSN: lastPrimaryLSN.map { LSN($0) },
                    history: history, config: config)
    }

    static func config(_ edit: (inout DynamicConfig) -> Void) -> DynamicConfig {
        var c = DynamicConfig()
        edit(&c)
        return c
    }

    // MARK: Local Postgres

    static func control(_ state: ControlData.ClusterState = .shutDownInRecovery, timeline: UInt32 = 1,
                        sysid: UInt64 = Fx.sysid) -> ControlData {
        ControlData(systemIdentifier: sysid, timeline: timeline, state: state)
    }

    static let emptyDir = LocalPostgres(dataDirectory: .empty, process: .stopped)

    static func runningPrimary(timeline: UInt32 = 1, sysid: UInt64 = Fx.sysid) -> LocalPostgres {
        LocalPostgres(dataDirectory: .initialized(control(.inProduction, timeline: timeline, sysid: sysid)),
                      process: .running,
                      running: RunningPostgres(inRecovery: false, timeline: timeline, walPosition: LSN(1_000)))
    }

    static func runningReplica(following: String? = "a", timeline: UInt32 = 1, sysid: UInt64 = Fx.sysid) -> LocalPostgres {
        LocalPostgres(dataDirectory: .initialized(control(.inArchiveRecovery, timeline: timeline, sysid: sysid)),
                      process: .running,
                      running: RunningPostgres(inRecovery: true, timeline: timeline, receivedLSN: LSN(1_000),
                                               replayedLSN: LSN(1_000), streaming: following != nil, following: following))
    }

    /// A data directory that is not running; `state` says whether it last ran as a primary.
    static func down(_ state: ControlData.ClusterState = .shutDownInRecovery, timeline: UInt32 = 1,
                     process: PostgresProcess = .stopped, sysid: UInt64 = Fx.sysid) -> LocalPostgres {
        LocalPostgres(dataDirectory: .initialized(control(state, timeline: timeline, sysid: sysid)), process: process)
    }

    /// A postmaster being started (not yet accepting connections), as a primary or as a standby.
    static func starting(asPrimary: Bool, _ state: ControlData.ClusterState? = nil, timeline: UInt32 = 1,
                         since: UInt64 = Fx.now - 100, sysid: UInt64 = Fx.sysid) -> LocalPostgres {
        var local = down(state ?? (asPrimary ? .inProduction : .shutDownInRecovery), timeline: timeline,
                         process: .starting(since: t(since)), sysid: sysid)
        local.startedAsPrimary = asPrimary
        return local
    }

    /// A postmaster that accepts connections but did not answer the status query (`running == nil`).
    static func unanswering(_ state: ControlData.ClusterState = .inArchiveRecovery, timeline: UInt32 = 1,
                            startedAsPrimary: Bool = false) -> LocalPostgres {
        LocalPostgres(dataDirectory: .initialized(control(state, timeline: timeline)), process: .running, running: nil,
                      startedAsPrimary: startedAsPrimary)
    }

    static func stoppedStandby(timeline: UInt32 = 1) -> LocalPostgres { down(.shutDownInRecovery, timeline: timeline) }
    static func stoppedFormerPrimary(timeline: UInt32 = 1) -> LocalPostgres { down(.shutDown, timeline: timeline) }
    static func crashedPrimary(timeline: UInt32 = 1, at: UInt64 = Fx.now - 1_000) -> LocalPostgres {
        down(.inProduction, timeline: timeline, process: .crashed(at: t(at)))
    }

    // MARK: Inputs

    /// An input of the Raft leader `me` (default "a") holding its lease (or not).
    static func leader(_ me: String = "a", now: UInt64 = Fx.now, term: UInt64 = Fx.term, lease: Bool = true,
                       tags: Tags = Tags(), cluster: ClusterView = Fx.cluster(), local: LocalPostgres,
                       round: StatusRound? = nil) -> HAInput {
        HAInput(now: t(now), me: me, tags: tags,
                raft: RaftView(isLeader: true, term: term, leader: me,
                               leaseDeadline: lease ? t(now + 600) : nil, voters: voters),
                cluster: cluster, local: local, statusRound: round)
    }

    /// An input of a follower `me` (default "b") that knows `leader` (default "a").
    static func follower(_ me: String = "b", leader: String? = "a", now: UInt64 = Fx.now, term: UInt64 = Fx.term,
                         tags: Tags = Tags(), cluster: ClusterView = Fx.cluster(), local: LocalPostgres) -> HAInput {
        HAInput(now: t(now), me: me, tags: tags,
                raft: RaftView(isLeader: false, term: term, leader: leader, leaseDeadline: nil, voters: voters),
                cluster: cluster, local: local)
    }

    /// A completed status round of `term` (default: the default term) at `at` (default: now).
    static func round(_ statuses: MemberStatus..., term: UInt64 = Fx.term, at: UInt64 = Fx.now) -> StatusRound {
        StatusRound(term: term, statuses: Dictionary(uniqueKeysWithValues: statuses.map { ($0.name, $0) }), at: t(at))
    }
}

/// The exact reasons `HANode` attaches to `setMayCampaign`, so tests compare whole action lists.
enum Campaign {
    static let unbootstrapped = HAAction.setMayCampaign(true, reason: "the cluster is not bootstrapped yet")
    static let runningStandby = HAAction.setMayCampaign(true, reason: "its Postgres is a running standby")
    static let runsPrimary = HAAction.setMayCampaign(true, reason: "it runs the primary")
    static let notStandby = HAAction.setMayCampaign(false, reason: "its Postgres is not a running standby")
    static let tagsForbid = HAAction.setMayCampaign(false, reason: "its tags forbid promotion")
    static let refused = HAAction.setMayCampaign(false, reason: "the data directory cannot be used")
}

extension HAAction {
    var isSetMayCampaign: Bool { if case .setMayCampaign = self { return true }; return false }
    var isFence: Bool { if case .fence = self { return true }; return false }
    var isPromote: Bool { if case .promote = self { return true }; return false }
    var isStartPrimary: Bool { if case .startPrimary = self { return true }; return false }
    var isBootstrap: Bool { if case .bootstrap = self { return true }; return false }
    var isTransfer: Bool { if case .transferLeadership = self { return true }; return false }
    var isRefuse: Bool { if case .refuse = self { return true }; return false }
    var waitReason: String? { if case .wait(let r) = self { return r }; return nil }
}

extension Array where Element == HAAction {
    /// The actions without the `setMayCampaign` bookkeeping.
    var withoutCampaign: [HAAction] { filter { !$0.isSetMayCampaign } }
}

extension LocalPostgres {
    func withStartedAsPrimary(_ startedAsPrimary: Bool) -> LocalPostgres {
        var copy = self
        copy.startedAsPrimary = startedAsPrimary
        return copy
    }
}
