import Testing
import PGNode

@Suite struct LibPQTests {
    @Test func linkedLibPQIsVersion15OrNewerAndThreadSafe() {
        #expect(LibPQ.version >= 150000, "libpq \(LibPQ.version) is older than 15")
        #expect(LibPQ.isThreadSafe)
    }
}
