import Testing
@testable import HACore

@Suite struct PlacementTests {
    static func place(_ statuses: MemberStatus..., cluster: ClusterView = Fx.cluster()) -> Placement {
        Placement(statuses: statuses, cluster: cluster)
    }

    @Test func nothingToPlace() {
        let p = Self.place()
        #expect(p.best == nil)
        #expect(p.ranked.isEmpty)
        #expect(p.excluded.isEmpty)
        #expect(p.exclusionSummary == "no member answered")
        #expect(!p.qualifies("a"))
    }

    @Test func runningStandbyOfThisClusterQualifies() {
        let p = Self.place(Fx.member("a"))
        #expect(p.best?.name == "a")
        #expect(p.qualifies("a"))
        #expect(!p.qualifies("b"))
        #expect(p.excluded.isEmpty)
    }

    @Test(arguments: [
        (Fx.member("x", tags: Tags(noFailover: true)), "tags forbid promotion"),
        (Fx.member("x", tags: Tags(failoverPriority: 0)), "tags forbid promotion"),
        (Fx.member("x", role: .primary), "not a standby (primary)"),
        (Fx.member("x", role: .uninitialized), "not a standby (uninitialized)"),
        (Fx.member("x", state: .stopped), "Postgres is stopped"),
        (Fx.member("x", state: .starting), "Postgres is starting"),
        (Fx.member("x", state: .crashed), "Postgres is crashed"),
        (Fx.member("x", state: .creatingReplica), "Postgres is creating replica"),
        (Fx.member("x", state: .refused), "Postgres is refused"),
        (Fx.member("x", sysid: Fx.otherSysid), "another cluster's data"),
        (Fx.member("x", sysid: nil), "another cluster's data"),
        (Fx.member("x", lsn: nil), "reports no WAL position"),
        // the first reason that applies is given
        (Fx.member("x", role: .primary, state: .stopped, tags: Tags(noFailover: true)), "tags forbid promotion"),
        (Fx.member("x", state: .stopped, sysid: Fx.otherSysid), "Postgres is stopped"),
    ])
    func exclusions(status: MemberStatus, why: String) {
        let p = Self.place(status)
        #expect(p.best == nil)
        #expect(p.excluded == ["x": why])
        #expect(p.exclusionSummary == "x: \(why)")
    }

    @Test func anySystemIdentifierBeforeBootstrap() {
        let p = Self.place(Fx.member("x", sysid: Fx.otherSysid), Fx.member("y", sysid: nil), cluster: Fx.cluster(sysid: nil))
        #expect(p.ranked.map(\.name) == ["x", "y"])
    }

    @Test func replayedPositionCountsWhenNothingWasReceived() {
        let p = Self.place(Fx.member("x", lsn: nil, replayed: 500), Fx.member("y", lsn: 400))
        #expect(p.ranked.map(\.name) == ["x", "y"])
    }

    @Test func receivedPositionRanksNotReplayed() {
        let p = Self.place(Fx.member("x", lsn: 500, replayed: 100), Fx.member("y", lsn: 400, replayed: 400))
        #expect(p.ranked.map(\.name) == ["x", "y"])
    }

    @Test func lagLimit() {
        let max = DynamicConfig().maximumLagOnFailover
        let cluster = Fx.cluster(lastPrimaryLSN: 10_000_000)
        let p = Self.place(Fx.member("atLimit", lsn: 10_000_000 - max), Fx.member("over", lsn: 10_000_000 - max - 1),
                           Fx.member("ahead", lsn: 10_000_001), cluster: cluster)
        #expect(p.ranked.map(\.name) == ["ahead", "atLimit"])
        #expect(p.excluded == ["over": "1048577 bytes behind the last primary position 0/989680 (maximum_lag_on_failover 1048576)"])
    }

    @Test func lagLimitIsConfigurable() {
        let cluster = Fx.cluster(lastPrimaryLSN: 1_000, config: Fx.config { $0.maximumLagOnFailover = 0 })
        let p = Self.place(Fx.member("x", lsn: 1_000), Fx.member("y", lsn: 999), cluster: cluster)
        #expect(p.ranked.map(\.name) == ["x"])
        #expect(p.excluded["y"] == "1 bytes behind the last primary position 0/3E8 (maximum_lag_on_failover 0)")
    }

    @Test func withoutALastPrimaryPositionThereIsNoLagLimit() {
        let p = Self.place(Fx.member("x", lsn: 1), cluster: Fx.cluster(lastPrimaryLSN: nil))
        #expect(p.qualifies("x"))
    }

    @Test func ranksByTimelineThenLSNThenPriorityThenName() {
        let p = Self.place(
            Fx.member("e", timeline: 1, lsn: 9_000, tags: Tags(failoverPriority: 9)),
            Fx.member("d", timeline: 2, lsn: 1_000, tags: Tags(failoverPriority: 1)),
            Fx.member("c", timeline: 2, lsn: 1_000, tags: Tags(failoverPriority: 1)),
            Fx.member("b", timeline: 2, lsn: 1_000, tags: Tags(failoverPriority: 2)),
            Fx.member("a", timeline: 2, lsn: 999, tags: Tags(failoverPriority: 9)),
            Fx.member("f", timeline: 2, lsn: 2_000, tags: Tags(failoverPriority: 1)))
        #expect(p.ranked.map(\.name) == ["f", "b", "c", "d", "a", "e"])
        #expect(p.best?.name == "f")
    }

    @Test func unknownTimelineRanksLast() {
        let p = Self.place(Fx.member("a", timeline: nil, lsn: 5_000), Fx.member("b", timeline: 1, lsn: 1))
        #expect(p.ranked.map(\.name) == ["b", "a"])
    }

    @Test func rankingDoesNotDependOnInputOrder() {
        let statuses = [Fx.member("a"), Fx.member("b", tags: Tags(failoverPriority: 2)), Fx.member("c", lsn: 900),
                        Fx.member("d"), Fx.member("e", lsn: 1_100)]
        var rng = SplitMix64(seed: 11)
        let expected = Placement(statuses: statuses, cluster: Fx.cluster()).ranked.map(\.name)
        #expect(expected == ["e", "b", "a", "d", "c"])
        for _ in 0..<50 {
            #expect(Placement(statuses: statuses.shuffled(using: &rng), cluster: Fx.cluster()).ranked.map(\.name) == expected)
        }
    }

    @Test func summaryListsExclusionsByName() {
        let p = Self.place(Fx.member("c", state: .stopped), Fx.member("a", role: .primary), Fx.member("b"),
                           Fx.member("d", tags: Tags(noFailover: true)))
        #expect(p.exclusionSummary == "a: not a standby (primary); c: Postgres is stopped; d: tags forbid promotion")
        #expect(p.ranked.map(\.name) == ["b"])
    }

    @Test func describe() {
        let p = Self.place()
        #expect(p.describe(Fx.member("a", timeline: 3, lsn: 0x1_0000_0010, tags: Tags(failoverPriority: 4)))
                == "timeline 3, WAL 1/10, priority 4")
        #expect(p.describe(Fx.member("a", timeline: nil, lsn: nil)) == "timeline ?, WAL ?, priority 1")
    }
}
