import CoreMetrics
import HACore
import NIOConcurrencyHelpers
import Prometheus

/// The agent's metrics (swift-metrics, exposed by swift-prometheus at `GET /metrics`), each
/// labelled with the cluster (`scope`) and member (`name`) as Patroni's are:
/// - Postgres: `pgha_postgres_running`, `pgha_primary`, `pgha_replica`, `pgha_postgres_timeline`,
///   `pgha_xlog_location`, `pgha_xlog_received_location`, `pgha_xlog_replayed_location` (bytes),
///   `pgha_member_lag_bytes{member}` (each standby's lag behind the primary, as this node sees it);
/// - Raft: `pgha_raft_term`, `pgha_raft_commit_index`, `pgha_raft_applied_index`, `pgha_raft_leader`,
///   `pgha_raft_leader_changes_total`, `pgha_lease_held`, `pgha_store_fsync_seconds` (histogram);
/// - HA: `pgha_fences_total`, `pgha_promotions_total`, `pgha_failovers_total`, `pgha_switchovers_total`,
///   `pgha_rewinds_total`, `pgha_rebuilds_total`, `pgha_is_paused`, `pgha_sync_standby` (named in the
///   `sync` claim), `pgha_pending_restart`, `pgha_commits_waiting` (a primary whose commits wait for a
///   synchronous standby);
/// - REST: `pgha_rest_requests_total{path,code}`.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let labels: [(String, String)]
    private let state = NIOLockedValueBox(State())

    private struct State {
        var lastLeader: String??
        var counted = AgentCounters()
        var fencesCounted = 0
        var laggers: Set<String> = []
    }

    public init(scope: String, member: String) {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        f.durationHistogramBuckets["pgha_store_fsync_seconds"] = [
            .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)]
        factory = f
        labels = [("scope", scope), ("name", member)]
    }

    private func gauge(_ name: String, _ extra: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: name, dimensions: labels + extra, factory: factory)
    }

    private func counter(_ name: String, _ extra: [(String, String)] = []) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: name, dimensions: labels + extra, factory: factory)
    }

    /// Records the state of one HA cycle and the fences the lease timer made.
    public func record(_ s: AgentSnapshot, leaseHeld: Bool, fences: Int) {
        let m = s.member
        gauge("pgha_postgres_running").record(s.local.process == .running ? 1 : 0)
        gauge("pgha_primary").record(s.local.isRunningPrimary ? 1 : 0)
        gauge("pgha_replica").record(s.local.isRunningReplica ? 1 : 0)
        gauge("pgha_postgres_timeline").record(Int64(m.timeline ?? 0))
        gauge("pgha_xlog_location").record(Int64(m.walPosition?.rawValue ?? 0))
        gauge("pgha_xlog_received_location").record(Int64(m.receivedLSN?.rawValue ?? 0))
        gauge("pgha_xlog_replayed_location").record(Int64(m.replayedLSN?.rawValue ?? 0))
        gauge("pgha_raft_term").record(Int64(s.raft.term))
        gauge("pgha_raft_commit_index").record(Int64(s.commitIndex))
        gauge("pgha_raft_applied_index").record(Int64(s.appliedIndex))
        gauge("pgha_raft_leader").record(s.raft.isLeader ? 1 : 0)
        gauge("pgha_lease_held").record(leaseHeld ? 1 : 0)
        gauge("pgha_is_paused").record(s.cluster.config.pause ? 1 : 0)
        gauge("pgha_sync_standby").record(HealthCheck.isSynchronous(s) ? 1 : 0)
        gauge("pgha_pending_restart").record((m.pendingRestart?.isEmpty ?? true) ? 0 : 1)
        gauge("pgha_commits_waiting").record(m.syncWarning == nil ? 0 : 1)
        let primary = s.cluster.members.values.first { $0.role == .primary && $0.state == .running }
        var laggers: Set<String> = []
        if let top = [s.cluster.lastPrimaryLSN, primary?.walPosition].compactMap({ $0 }).max() {
            for member in s.cluster.members.values where member.role == .replica {
                laggers.insert(member.name)
                gauge("pgha_member_lag_bytes", [("member", member.name)]).record(Int64(top.bytes(after: member.lsn ?? .zero)))
            }
        }
        state.withLockedValue { st in
            if st.lastLeader != .some(s.raft.leader) {
                if st.lastLeader != nil { counter("pgha_raft_leader_changes_total").increment() }
                st.lastLeader = .some(s.raft.leader)
            }
            let c = s.counters
            counter("pgha_promotions_total").increment(by: Int64(max(0, c.promotions - st.counted.promotions)))
            counter("pgha_switchovers_total").increment(by: Int64(max(0, c.switchovers - st.counted.switchovers)))
            counter("pgha_failovers_total").increment(by: Int64(max(0, c.failovers - st.counted.failovers)))
            counter("pgha_rewinds_total").increment(by: Int64(max(0, c.rewinds - st.counted.rewinds)))
            counter("pgha_rebuilds_total").increment(by: Int64(max(0, c.rebuilds - st.counted.rebuilds)))
            let allFences = c.fences + fences
            counter("pgha_fences_total").increment(by: Int64(max(0, allFences - st.fencesCounted)))
            st.counted = c
            st.fencesCounted = allFences
            for gone in st.laggers.subtracting(laggers) { gauge("pgha_member_lag_bytes", [("member", gone)]).record(0) }
            st.laggers = laggers
        }
    }

    /// Counts one answered REST request.
    public func recordRequest(path: String, status: Int) {
        counter("pgha_rest_requests_total", [("path", path), ("code", String(status))]).increment()
    }

    /// Records one durable write of the Raft log.
    public func recordPersist(_ duration: Duration) {
        CoreMetrics.Timer(label: "pgha_store_fsync_seconds", dimensions: labels, factory: factory).recordNanoseconds(duration.nanosecondsClamped)
    }

    /// The Prometheus text exposition.
    public func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
