import Foundation
import HACore
import Logging
import NIOCore
import RaftCore

extension Agent {
    /// The planned switchover (DESIGN.md): the running primary records its chosen candidate in
    /// the request, stops with a shutdown checkpoint, waits until the candidate has received
    /// WAL past that checkpoint, and hands Raft leadership to it; the candidate then promotes
    /// as the request's candidate. Nothing acknowledged can be lost: every commit precedes the
    /// shutdown checkpoint, which the candidate holds before it may be elected.
    ///
    /// Any failure drops the request and returns false; the next decision, still on the
    /// leader, restarts this primary in place.
    func switchover(to candidate: String, raftID: UInt64, kind: FailoverRequest.Kind, _ input: HAInput) async -> Bool {
        let began = ContinuousClock.now
        guard await recordCandidate(candidate) else { return false }
        // The candidate's own word, now: a running standby streaming from us (its periodic report
        // may be a second old; it may have stopped for a repair since).
        let fresh = try? await client.memberStatus(of: NodeID(raftID), timeout: .milliseconds(config.ha.statusRoundMilliseconds))
        guard let fresh, let now = try? JSONDecoder().decode(MemberStatus.self, from: Data(fresh)),
              now.role == .replica, now.state == .running, now.streaming else {
            return await abandonSwitchover("the candidate \(candidate) is not a streaming standby right now; the primary keeps running")
        }
        counters.switchovers += 1
        logger.notice("\(kind.rawValue): stopping the primary with a shutdown checkpoint", metadata: ["candidate": "\(candidate)"])
        activity = .stopping
        defer { activity = nil }
        await postgres.stop(.fast, timeout: .seconds(60))
        await fence.disarm()
        guard case .initialized(let control) = await postgres.inspectDataDirectory(), let checkpoint = control.checkpointLocation,
              control.state == .shutDown else {
            return await abandonSwitchover("the primary did not stop cleanly; restarting it")
        }
        // Wait until the candidate's WAL passes the shutdown checkpoint record.
        let deadline = ContinuousClock.now + .milliseconds(Int(input.cluster.config.switchoverTimeoutMs))
        var reached: LSN?
        while ContinuousClock.now < deadline, !stopping {
            if let json = try? await client.memberStatus(of: NodeID(raftID), timeout: .milliseconds(config.ha.statusRoundMilliseconds)),
               let s = try? JSONDecoder().decode(MemberStatus.self, from: Data(json)) {
                reached = s.lsn
                // It must still be a running standby (its WAL receiver stops streaming once
                // the primary is down; that is expected).
                guard s.role == .replica, s.state == .running else {
                    return await abandonSwitchover("the candidate \(candidate) is no longer a running standby "
                        + "(\(s.role.rawValue), \(s.state.rawValue)); restarting the primary")
                }
                if let lsn = s.lsn, lsn > checkpoint { break }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        guard let lsn = reached, lsn > checkpoint else {
            return await abandonSwitchover("the candidate \(candidate) did not receive the shutdown checkpoint \(checkpoint) "
                + "in time (it reached \(reached.map { "\($0)" } ?? "nothing")); restarting the primary")
        }
        logger.notice("\(kind.rawValue): the candidate holds the shutdown checkpoint; handing over Raft leadership",
                      metadata: ["candidate": "\(candidate)", "postgres.checkpoint": "\(checkpoint)", "candidate.lsn": "\(lsn)"])
        counters.transfers += 1
        do { try await runtime.transferLeadership(to: NodeID(raftID)) } catch {
            return await abandonSwitchover("the leadership transfer to \(candidate) was refused (\(error)); restarting the primary")
        }
        let transferDeadline = ContinuousClock.now + .milliseconds(Int(input.cluster.config.transferTimeoutMs))
        while ContinuousClock.now < transferDeadline {
            if let s = await runtime.status(), s.role != .leader {
                logger.notice("\(kind.rawValue): leadership handed over", metadata: [
                    "candidate": "\(candidate)", "elapsed_ms": "\((ContinuousClock.now - began).milliseconds)"])
                runAgain = true
                return false
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return await abandonSwitchover("the leadership transfer to \(candidate) did not complete; restarting the primary")
    }

    /// Writes the chosen candidate into the pending request (compare-and-set, so a newer
    /// request is not overwritten). False when the request changed or could not be written.
    private func recordCandidate(_ candidate: String) async -> Bool {
        do {
            guard let current = try await runtime.get(ClusterKey.failover.path, linearizable: true),
                  var request = try? JSONDecoder().decode(FailoverRequest.self, from: Data(current.value)) else { return false }
            if request.candidate == candidate { return true }
            request.candidate = candidate
            _ = try await runtime.put(ClusterKey.failover.path, ClusterState.encode(request), expectedRevision: current.modRevision)
            return true
        } catch {
            logger.warning("could not record the switchover candidate", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func abandonSwitchover(_ reason: String) async -> Bool {
        logger.error("switchover abandoned", metadata: ["reason": "\(reason)"])
        await clearFailover(reason: reason)
        runAgain = true
        return false
    }

    /// Deletes the pending `failover` request (compare-and-set on the revision read).
    func clearFailover(reason: String) async {
        do {
            guard let current = try await runtime.get(ClusterKey.failover.path, linearizable: true) else { return }
            _ = try await runtime.delete(ClusterKey.failover.path, expectedRevision: current.modRevision)
            logger.notice("cleared the switchover/failover request", metadata: ["reason": "\(reason)"])
        } catch {
            logger.warning("could not clear the switchover/failover request", metadata: ["error": "\(error)"])
        }
    }
}
