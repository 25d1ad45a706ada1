import HACore
#if canImport(Glibc)
import Glibc
#endif

/// What the controller knows about its postmaster, kept in one `NIOLockedValueBox` so that a
/// fence from any thread, the reaper thread and the async operations agree.
///
/// Invariant: `pid` is set exactly while a child the controller spawned has not been reaped;
/// the reaper clears it (under the lock) before reaping, so a signal sent under the lock never
/// reaches a reused pid.
struct PostmasterState: Sendable {
    var process: PostgresProcess = .stopped
    var pid: pid_t?
    /// The next exit was asked for (stop, fence): it is not reported as a crash.
    var exitExpected = false
    /// A start is between its checks and the spawn's result.
    var spawning = false
    /// A fence arrived while `spawning`: the new child is stopped as soon as it exists.
    var fenceWhileSpawning = false
    /// An operation that needs Postgres stopped (rewind, rebuild) works on the data directory;
    /// starts are refused meanwhile.
    var directoryWork: String?
    /// What pgha renders into `postgresql.conf` beside the static settings (see
    /// `PostgresRuntimeConfiguration`), and what it rendered last.
    var runtime = PostgresRuntimeConfiguration()

    /// Sends `signal` to the postmaster if there is one, marking its exit as expected.
    mutating func signal(_ signal: Int32) -> Bool {
        guard let pid else { return false }
        exitExpected = true
        return kill(pid, signal) == 0
    }
}

/// The parts of `postgresql.conf` that change while the agent runs: the dynamic parameters from
/// the store and `synchronous_standby_names`, plus what was rendered last (so a reload rewrites
/// the file for the same role and upstream).
struct PostgresRuntimeConfiguration: Sendable, Hashable {
    /// The store's parameters for this member's role (its own file's `parameters` still win).
    var dynamicParameters: [String: String] = [:]
    var synchronousStandbyNames = ""
    /// The last rendering was for a standby, of `renderedUpstream` (nil: in recovery, no upstream).
    var renderedStandby = false
    var renderedUpstream: PostgresUpstream?
}
