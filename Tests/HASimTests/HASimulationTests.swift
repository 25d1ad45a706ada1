import HACore
import Testing
@testable import HASim

/// The HA simulator itself: deterministic, clean on the unmodified code, and the Postgres
/// model's synchronous commit as Postgres applies it. (The long sweeps and the planted-bug hunt
/// run on a release build from `scripts/test`.)
@Suite struct HASimulationTests {
    static func options(_ seed: UInt64, _ mode: SynchronousMode, nodes: Int = 3) -> HASimOptions {
        var o = HASimOptions(seed: seed)
        o.mode = mode
        o.nodes = nodes
        return o
    }

    @Test func aSeedReplaysEventForEvent() {
        let a = HASimulation.run(Self.options(7, .quorum))
        let b = HASimulation.run(Self.options(7, .quorum))
        #expect(a.stats == b.stats)
        #expect(a.trace == b.trace)
        #expect(a.stats.commitsAcknowledged > 100)
    }

    @Test(arguments: [SynchronousMode.off, .on, .quorum])
    func seedsPassOnTheUnmodifiedCode(mode: SynchronousMode) {
        for seed: UInt64 in 1...3 {
            let r = HASimulation.run(Self.options(seed, mode))
            #expect(r.passed, "\(r.report)")
            #expect(r.stats.healedAfterMs != nil)
        }
    }

    /// Seeds of the 3-node soak that found safety holes, each now clean:
    /// - 1297 (off): an agent frozen while its Postgres started as primary left it unguarded
    ///   past the lease (the guard knew no pid yet) — now armed for the data directory first;
    /// - 1983 (on), 30748 (quorum): a host resumed after a pause longer than the lease was
    ///   counted as writing before its guard looked at the clock (a simulator defect);
    /// - 30115 (on): a new leader decided on its store copy before an entry of its term was
    ///   committed, missed the last `sync` key and promoted a member that was not in sync;
    /// - 3783, 521 (on): a primary acknowledged commits before `history` showed its timeline,
    ///   and `history` held its rows out of timeline order, so a later leader on an older
    ///   timeline restarted in place and lost them;
    /// - 233 (on, Progress): a promotion went ahead on a Postgres that had crashed while the
    ///   timeline was reserved, and its host's restart kept it "promoting" for good (a
    ///   simulator defect).
    /// - 8915 (quorum): a promotion decided in term 2 went ahead in term 4, under the new
    ///   term's lease but on term 2's `sync` key — the arming now names the decision's term.
    /// - 20 (quorum, Progress): a stopped standby behind the newest timeline, and the `sync`
    ///   claim's own primary, stayed down while no primary ran, so nobody could be promoted;
    /// - 3757 (off, Progress): a timeline's primary died before recording its `history` row,
    ///   and a standby off the newest timeline's path was never recognised as diverged.
    @Test(arguments: [(UInt64(1297), SynchronousMode.off), (1983, .on), (30748, .quorum), (30115, .on),
                      (3783, .on), (521, .on), (233, .on), (8915, .quorum), (20, .quorum), (3757, .off)])
    func soakFindingsStayFixed(seed: UInt64, mode: SynchronousMode) {
        let r = HASimulation.run(Self.options(seed, mode))
        #expect(r.passed, "\(r.report)")
    }

    // The planted bug `stale-store-view` (a leader decides on its store copy before an entry of
    // its term is committed) was caught at seed 30115 before this session's fixes; since then
    // no seed among 14,000 in `on` mode reaches the window (a new leader's lease and its first
    // commit come from the same acknowledgements), so there is no catching seed to pin here.
    // An open finding of issue 11, reported in its closing note.

    @Test func theFailoverProbeMeasuresACrashOfThePrimarysHost() {
        var o = Self.options(3, .on)
        o.failoverProbe = true
        let r = HASimulation.run(o)
        #expect(r.passed, "\(r.report)")
        let ms = try! #require(r.stats.failoverMs)
        // An election timeout (1–2 s) plus a status round and a promotion.
        #expect(ms > 1_000 && ms < 10_000)
    }

    @Test func synchronousStandbyNamesAreAppliedAsPostgresDoes() {
        let first = SyncRule("FIRST 1 (\"b\", \"c\")")
        #expect(first.waitedFor(connected: ["c", "b"]) == ["b"])
        #expect(first.waitedFor(connected: ["c"]) == ["c"])
        #expect(first.satisfied(flushed: ["b"], connected: ["b", "c"]))
        #expect(!first.satisfied(flushed: ["c"], connected: ["b", "c"]))
        #expect(first.state(of: "c", connected: ["b", "c"]) == "potential")
        let none = SyncRule(SynchronousStandbyNames.none)
        #expect(!none.satisfied(flushed: ["b", "c"], connected: ["b", "c"]))
        let any = SyncRule("ANY 2 (\"b\", \"c\", \"d\")")
        #expect(any.satisfied(flushed: ["b", "d"], connected: ["b", "c", "d"]))
        #expect(!any.satisfied(flushed: ["b"], connected: ["b", "c", "d"]))
        #expect(!any.satisfied(flushed: ["b", "d"], connected: ["b"]))
        #expect(SyncRule("").count == 0)
    }
}
