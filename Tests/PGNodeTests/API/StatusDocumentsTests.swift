import Testing
import HACore
@testable import PGNode

@Suite struct ScheduleParsingTests {
    static let at10Z: UInt64 = 1_796_205_600_000  // 2026-12-02T10:00:00Z

    static let accepted: [(String, UInt64)] = [
        ("2026-12-02T10:00:00Z", at10Z),
        ("2026-12-02T10:00:00+00:00", at10Z),
        ("2026-12-02T12:00:00+02:00", at10Z),
        ("2026-12-02T05:00:00-05:00", at10Z),
        ("2026-12-02T10:00+00", at10Z),
        ("2026-12-02T12:00+02", at10Z),
        ("2026-12-02T10:00Z", at10Z),
        ("2026-12-02T12:00+02:00", at10Z),
        ("2026-12-02 10:00:00+00:00", at10Z),
        ("2026-12-02 10:00Z", at10Z),
        ("2026-12-02T10:00:00.250Z", at10Z + 250),
        ("2026-12-02T12:00:00.250+02:00", at10Z + 250),
        ("  2026-12-02T10:00:00Z  ", at10Z),
        ("2026-12-02T12:00:00+0200", at10Z),
    ]

    @Test(arguments: accepted)
    func parsesWithATimeZone(text: String, ms: UInt64) {
        #expect(StatusDocuments.parseSchedule(text) == .success(ms), "\(text)")
    }

    @Test(arguments: ["2026-12-02T10:00:00", "2026-12-02T10:00", "2026-12-02 10:00:00", "2026-12-02 10:00", "2026-12-02T10:00:00.5"])
    func withoutATimeZone(text: String) {
        #expect(StatusDocuments.parseSchedule(text) == .failure(.noTimeZone), "\(text)")
    }

    @Test(arguments: ["garbage", "", "   ", "tomorrow 10:00", "2026-13-45T10:00:00Z", "10:00Z",
                      "2026-12-02T25:00:00Z", "Z", "+02:00"])
    func unparsable(text: String) {
        #expect(StatusDocuments.parseSchedule(text) == .failure(.unparsable), "\(text)")
    }

    @Test func iso8601() {
        #expect(StatusDocuments.iso8601(unixMs: 0) == "1970-01-01T00:00:00.000+00:00")
        #expect(StatusDocuments.iso8601(unixMs: Self.at10Z + 7) == "2026-12-02T10:00:00.007+00:00")
        #expect(StatusDocuments.parseSchedule(StatusDocuments.iso8601(unixMs: Self.at10Z + 7)) == .success(Self.at10Z + 7))
    }
}

/// An agent whose HA loop has not run for a while (a frozen process just resumed, a base
/// backup holding the loop) says how old its view is, and `/cluster` names no leader from it.
@Suite struct SnapshotFreshnessTests {
    static let at = Instant(milliseconds: 1_000_000)

    @Test func aFreshSnapshotNamesItsLeaderAndItsAge() {
        let s = APIFx.primary(at: Self.at)
        let doc = StatusDocuments.cluster(s, scope: "demo", leaseValid: true, now: Self.at.adding(milliseconds: 800))
        #expect(doc["snapshot_age_ms"] == .int(800))
        #expect(doc["stale"] == nil)
        let roles = doc["members"]?.arrayValue?.compactMap { $0["role"] }
        #expect(roles?.contains(.string("leader")) == true)
        #expect(StatusDocuments.member(s, scope: "demo", leaseValid: true, now: Self.at.adding(milliseconds: 800))["stale"] == nil)
    }

    @Test func aStaleSnapshotIsMarkedAndNamesNoLeader() {
        let s = APIFx.primary(at: Self.at)
        let now = Self.at.adding(milliseconds: StatusDocuments.staleSnapshotMs + 1)
        let doc = StatusDocuments.cluster(s, scope: "demo", leaseValid: false, now: now)
        #expect(doc["stale"] == .bool(true))
        #expect(doc["snapshot_age_ms"] == .int(Int64(StatusDocuments.staleSnapshotMs + 1)))
        let roles = doc["members"]?.arrayValue?.compactMap { $0["role"] }
        #expect(roles?.contains(.string("leader")) == false)
        #expect(StatusDocuments.member(s, scope: "demo", leaseValid: false, now: now)["stale"] == .bool(true))
    }
}
