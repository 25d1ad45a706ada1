import HACore
import Testing
@testable import PGNode

@Suite struct HealthCheckTests {
    static let now = Instant(milliseconds: 1_000_000)
    static let fresh = Instant(milliseconds: 1_000_000 - 200)

    func status(_ uri: String, _ s: AgentSnapshot?, lease: Bool = true, now: Instant = HealthCheckTests.now) -> Int? {
        let r = RESTRequest(method: .GET, uri: uri)
        return HealthCheck.status(path: r.path, query: r.query, snapshot: s, leaseValid: lease, now: now)
    }

    static let primary = APIFx.primary(at: fresh)
    static let replica = APIFx.replica(at: fresh)

    // MARK: Roles

    static let primaryWithLease: [(String, Int)] = [
        ("/", 200), ("/primary", 200), ("/master", 200), ("/read-write", 200), ("/leader", 200),
        ("/replica", 503), ("/read-only", 200), ("/health", 200), ("/standby-leader", 503), ("/standby_leader", 503),
        ("/sync", 503), ("/synchronous", 503), ("/async", 503), ("/asynchronous", 503), ("/read-only-sync", 200),
        ("/liveness", 200), ("/readiness", 200),
    ]

    @Test(arguments: primaryWithLease)
    func primaryWithValidLease(path: String, code: Int) {
        #expect(status(path, Self.primary) == code, "\(path)")
    }

    static let primaryWithoutLease: [(String, Int)] = [
        ("/", 503), ("/primary", 503), ("/master", 503), ("/read-write", 503), ("/leader", 503),
        ("/replica", 503), ("/read-only", 503), ("/health", 200), ("/read-only-sync", 503), ("/readiness", 503),
        ("/liveness", 200),
    ]

    @Test(arguments: primaryWithoutLease)
    func primaryWithoutValidLease(path: String, code: Int) {
        #expect(status(path, Self.primary, lease: false) == code, "\(path)")
    }

    @Test func primaryThatIsNotTheRaftLeaderIsNotThePrimary() {
        let s = APIFx.snapshot(member: APIFx.primaryStatus(), local: APIFx.runningPrimary, isLeader: false, at: Self.fresh)
        #expect(status("/primary", s) == 503)
        #expect(status("/leader", s) == 503)
        #expect(status("/health", s) == 200)
    }

    static let streamingReplica: [(String, Int)] = [
        ("/", 503), ("/primary", 503), ("/leader", 503), ("/replica", 200), ("/read-only", 200), ("/health", 200),
        ("/async", 200), ("/asynchronous", 200), ("/sync", 503), ("/read-only-sync", 503), ("/readiness", 200),
        ("/liveness", 200), ("/standby-leader", 503),
    ]

    @Test(arguments: streamingReplica)
    func streamingReplicaAnswers(path: String, code: Int) {
        // The lease flag belongs to the leader; a replica's answers do not depend on it.
        #expect(status(path, Self.replica, lease: false) == code, "\(path)")
        #expect(status(path, Self.replica, lease: true) == code, "\(path) with lease")
    }

    static let noLoadBalanceReplica: [(String, Int)] = [
        ("/replica", 503), ("/read-only", 503), ("/async", 503), ("/health", 200), ("/readiness", 200),
    ]

    @Test(arguments: noLoadBalanceReplica)
    func replicaWithNoLoadBalance(path: String, code: Int) {
        let s = APIFx.replica(tags: Tags(noLoadBalance: true), at: Self.fresh)
        #expect(status(path, s) == code, "\(path)")
    }

    @Test func noFailoverAffectsNoHealthEndpoint() {
        let s = APIFx.replica(tags: Tags(noFailover: true), at: Self.fresh)
        for path in ["/replica", "/read-only", "/async", "/health", "/readiness"] {
            #expect(status(path, s) == 200, "\(path)")
        }
    }

    @Test func replicationStateFilter() {
        #expect(status("/replica?replication_state=streaming", Self.replica) == 200)
        #expect(status("/replica?replication_state=in%20archive%20recovery", Self.replica) == 503)
        let archive = APIFx.replica(streaming: false, at: Self.fresh)
        #expect(status("/replica?replication_state=in+archive+recovery", archive) == 200)
        #expect(status("/replica?replication_state=streaming", archive) == 503)
        #expect(status("/replica", archive) == 200, "no filter: a running standby in archive recovery is a replica")
    }

    // MARK: Lag

    /// A replica 20 MiB behind the last primary position the store recorded.
    static let behind: AgentSnapshot = {
        let own = APIFx.tip - 20 * 1_048_576
        let cluster = APIFx.cluster([APIFx.primaryStatus(), APIFx.replicaStatus("pg2", received: own, replayed: own),
                                     APIFx.replicaStatus("pg3")], lastPrimaryLSN: APIFx.tip)
        return APIFx.replica(received: own, replayed: own, cluster: cluster, at: fresh)
    }()

    static let lagCases: [(String, Int)] = [
        ("/replica", 200), ("/replica?lag=16MB", 503), ("/replica?lag=32MB", 200), ("/replica?lag=1kB", 503),
        ("/replica?lag=20971520", 200), ("/replica?lag=20971519", 503), ("/replica?lag=1GB", 200),
        ("/replica?lag=16mb", 200), ("/replica?lag=16XB", 200), ("/replica?lag=abc", 200), ("/replica?lag=", 200),
        ("/read-only?lag=16MB", 503), ("/async?lag=16MB", 503), ("/async?lag=32MB", 200),
        ("/health?lag=1kB", 200),
        ("/replica?lag=1kB&lag=1GB", 503), ("/replica?lag=1GB&lag=1kB", 200),  // only the first value counts
        ("/replica?lag=16%20MB", 503), ("/replica?lag=16+MB", 503),
    ]

    @Test(arguments: lagCases)
    func lagLimit(uri: String, code: Int) {
        #expect(status(uri, Self.behind) == code, "\(uri)")
    }

    @Test func lagCountsFromTheNewestPrimaryPositionKnown() {
        // The store's status is old, but the primary's own report is further ahead.
        let own = APIFx.tip - 2 * 1_048_576
        let cluster = APIFx.cluster([APIFx.primaryStatus(lsn: APIFx.tip), APIFx.replicaStatus("pg2", received: own, replayed: own)],
                                    lastPrimaryLSN: own)
        let s = APIFx.replica(received: own, replayed: own, cluster: cluster, at: Self.fresh)
        #expect(status("/replica?lag=1MB", s) == 503)
        #expect(status("/replica?lag=3MB", s) == 200)
    }

    @Test func lagUsesTheReplayedPosition() {
        // Everything received, but replay is 4 MiB behind.
        let replayed = APIFx.tip - 4 * 1_048_576
        let s = APIFx.replica(received: APIFx.tip, replayed: replayed, at: Self.fresh)
        #expect(status("/replica?lag=2MB", s) == 503)
        #expect(status("/replica?lag=8MB", s) == 200)
    }

    // MARK: Tags

    static let tagged = APIFx.replica(tags: Tags(noFailover: true, failoverPriority: 3, other: ["zone": "east"]), at: fresh)

    static let tagCases: [(String, Int)] = [
        ("/replica?tag_zone=east", 200), ("/replica?tag_zone=west", 503), ("/replica?tag_rack=1", 503),
        ("/replica?tag_nofailover=true", 200), ("/replica?tag_nofailover=false", 503),
        ("/replica?tag_noloadbalance=false", 200), ("/replica?tag_failover_priority=3", 200),
        ("/replica?tag_zone=east&tag_nofailover=true", 200), ("/replica?tag_zone=east&tag_nofailover=false", 503),
        ("/read-only?tag_zone=east", 200), ("/read-only?tag_zone=west", 503),
        ("/health?tag_zone=east", 200), ("/health?tag_zone=west", 503),
        ("/async?tag_zone=west", 503),
        ("/replica?zone=west", 200),
        ("/replica?tag_zone=east&tag_zone=west", 200), ("/replica?tag_zone=west&tag_zone=east", 503),
    ]

    @Test(arguments: tagCases)
    func tagFilters(uri: String, code: Int) {
        #expect(status(uri, Self.tagged) == code, "\(uri)")
    }

    @Test func tagFiltersDoNotApplyToLeaderAndPrimary() {
        let s = APIFx.snapshot(member: { var m = APIFx.primaryStatus(); m.tags = Tags(other: ["zone": "east"]); return m }(),
                               local: APIFx.runningPrimary, isLeader: true, at: Self.fresh)
        #expect(status("/primary?tag_zone=west", s) == 200)
        #expect(status("/leader?tag_zone=west", s) == 200)
        #expect(status("/?tag_rack=1", s) == 200)
    }

    // MARK: Down, liveness, readiness

    @Test func healthWithPostgresStopped() {
        let s = APIFx.snapshot(member: { var m = APIFx.replicaStatus("pg2"); m.state = .stopped; return m }(),
                               local: APIFx.stopped, isLeader: false, at: Self.fresh)
        #expect(status("/health", s) == 503)
        #expect(status("/replica", s) == 503)
        #expect(status("/read-only", s) == 503)
        #expect(status("/readiness", s) == 503)
        #expect(status("/liveness", s) == 200, "the agent itself is alive")
    }

    @Test func healthWithAPostmasterThatDoesNotAnswer() {
        var local = APIFx.runningReplica()
        local.running = nil
        let s = APIFx.snapshot(member: APIFx.replicaStatus("pg2"), local: local, isLeader: false, at: Self.fresh)
        #expect(status("/health", s) == 503)
        #expect(status("/replica", s) == 503)
    }

    @Test func livenessFailsWithAnOldSnapshot() {
        let budget = HealthCheck.livenessBudgetMs
        #expect(budget == 10_000)
        let exactly = APIFx.replica(at: Instant(milliseconds: Self.now.rawValue - budget))
        #expect(status("/liveness", exactly) == 200)
        let old = APIFx.replica(at: Instant(milliseconds: Self.now.rawValue - budget - 1))
        #expect(status("/liveness", old) == 503)
        let older = APIFx.primary(at: Instant(milliseconds: Self.now.rawValue - 60_000))
        #expect(status("/liveness", older) == 503)
    }

    @Test func readiness() {
        #expect(status("/readiness", Self.primary) == 200)
        #expect(status("/readiness", Self.primary, lease: false) == 503)
        #expect(status("/readiness", Self.replica) == 200)
        // Not streaming.
        #expect(status("/readiness", APIFx.replica(streaming: false, at: Self.fresh)) == 503)
        // 20 MiB behind: over the default maximum_lag_on_failover (1 MiB), within ?lag=32MB.
        #expect(status("/readiness", Self.behind) == 503)
        #expect(status("/readiness?lag=32MB", Self.behind) == 200)
        #expect(status("/readiness?lag=16MB", Self.behind) == 503)
    }

    @Test func readinessModeWriteUsesTheReceivedPosition() {
        let replayed = APIFx.tip - 4 * 1_048_576
        let s = APIFx.replica(received: APIFx.tip, replayed: replayed, at: Self.fresh)
        #expect(status("/readiness", s) == 503, "replay is 4 MiB behind")
        #expect(status("/readiness?mode=write", s) == 200, "everything received")
        #expect(status("/readiness?mode=apply", s) == 503)
    }

    @Test func readinessFollowsMaximumLagOnFailover() {
        let own = APIFx.tip - 20 * 1_048_576
        var config = DynamicConfig()
        config.maximumLagOnFailover = 32 * 1_048_576
        let cluster = APIFx.cluster([APIFx.primaryStatus(), APIFx.replicaStatus("pg2", received: own, replayed: own)],
                                    lastPrimaryLSN: APIFx.tip, config: config)
        #expect(status("/readiness", APIFx.replica(received: own, replayed: own, cluster: cluster, at: Self.fresh)) == 200)
    }

    // MARK: Paths

    @Test func noSnapshotYetIsUnavailable() {
        for path in ["/", "/primary", "/replica", "/health", "/liveness", "/readiness"] {
            #expect(status(path, nil) == 503, "\(path)")
        }
    }

    @Test(arguments: ["/foo", "/patroni", "/cluster", "/read_only", "/xyz-leader", "/replicas", "/primary/x", "/config"])
    func unknownPathIsNotAHealthCheck(path: String) {
        #expect(status(path, Self.primary) == nil)
    }

    @Test func trailingSlashAndQueryAreNotPartOfThePath() {
        #expect(status("/primary/", Self.primary) == 200)
        #expect(status("/replica/?lag=1MB", Self.replica) == 200)
    }

    // MARK: parseSize

    static let sizes: [(String?, UInt64?)] = [
        ("0", 0), ("1048576", 1_048_576), ("16MB", 16 << 20), ("1kB", 1024), ("1024kB", 1 << 20), ("1GB", 1 << 30),
        ("2TB", 2 << 40), ("5B", 5), (" 16 MB ", 16 << 20), ("16 MB", 16 << 20),
        ("16mb", nil), ("16KB", nil), ("1kb", nil), ("abc", nil), ("", nil), (nil, nil), ("MB", nil), ("-1", nil),
        ("-1MB", nil), ("99999999999TB", nil), ("18446744073709551615", UInt64.max), ("18446744073709551616", nil),
    ]

    @Test(arguments: sizes)
    func parseSize(text: String?, bytes: UInt64?) {
        #expect(HealthCheck.parseSize(text) == bytes, "\(text ?? "nil")")
    }
}
