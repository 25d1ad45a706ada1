import Testing
import RaftCore
@testable import ClusterStore

@Suite struct KeyValueStoreTests {
    func put(_ k: String, _ v: String, expected: UInt64? = nil, id: UInt64 = 1) -> StoreCommand {
        StoreCommand(requestID: id, operation: .put(key: k, value: Array(v.utf8), expectedRevision: expected))
    }

    @Test func revisionsFollowTheLogIndex() {
        var s = KeyValueStore()
        #expect(s.apply(put("a", "1"), at: 3) == .ok(revision: 3))
        #expect(s.apply(put("a", "2"), at: 5) == .ok(revision: 5))
        let v = s.get("a")
        #expect(v?.value == Array("2".utf8))
        #expect(v?.createRevision == 3 && v?.modRevision == 5 && v?.version == 2)
        s.skip(7)
        #expect(s.revision == 7)
        // Replaying an applied index changes nothing.
        #expect(s.apply(put("a", "old"), at: 4) == .revisionMismatch(current: 0))
        #expect(s.get("a")?.value == Array("2".utf8))
    }

    @Test func compareAndSetAndDelete() {
        var s = KeyValueStore()
        #expect(s.apply(put("k", "x", expected: 0), at: 1) == .ok(revision: 1), "create-if-absent")
        #expect(s.apply(put("k", "y", expected: 0), at: 2) == .revisionMismatch(current: 1))
        #expect(s.apply(put("k", "y", expected: 1), at: 3) == .ok(revision: 3))
        #expect(s.apply(StoreCommand(requestID: 1, operation: .delete(key: "k", expectedRevision: 1)), at: 4) == .revisionMismatch(current: 3))
        #expect(s.apply(StoreCommand(requestID: 1, operation: .delete(key: "k", expectedRevision: 3)), at: 5) == .ok(revision: 5))
        #expect(s.apply(StoreCommand(requestID: 1, operation: .delete(key: "k", expectedRevision: nil)), at: 6) == .notFound)
        #expect(s.get("k") == nil)
    }

    @Test func listByPrefixIsSortedAndSnapshotsRoundTrip() throws {
        var s = KeyValueStore()
        var i: UInt64 = 0
        for name in ["c", "a", "b"] {
            i += 1
            _ = s.apply(put(ClusterKey.member(name).path, name), at: i)
        }
        i += 1
        _ = s.apply(put(ClusterKey.config.path, "{}"), at: i)
        #expect(s.list(prefix: ClusterKey.membersPrefix).map(\.key) == ["members/a", "members/b", "members/c"])
        let restored = try KeyValueStore(snapshot: s.snapshot())
        #expect(restored == s)
        #expect(throws: WireError.self) { try KeyValueStore(snapshot: [9, 9, 9]) }
    }

    @Test func commandsRoundTripAndGarbageIsRejected() throws {
        let commands = [
            put("members/n1", "{\"role\":\"primary\"}", expected: 7, id: 99),
            put("", "", id: 0),
            StoreCommand(requestID: .max, operation: .delete(key: "sync", expectedRevision: nil)),
            StoreCommand(requestID: 5, operation: .delete(key: "failover", expectedRevision: 0)),
        ]
        for c in commands {
            #expect(try StoreCommand(decoding: c.encoded()) == c)
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? StoreCommand(decoding: bytes)  // must not trap
        }
    }

    @Test func clusterKeysParseBack() {
        for k in [ClusterKey.config, .member("db-1"), .initialize, .sync, .history, .failover, .status] {
            #expect(ClusterKey(path: k.path) == k)
        }
        #expect(ClusterKey(path: "members/") == nil)
        #expect(ClusterKey(path: "other") == nil)
    }
}
