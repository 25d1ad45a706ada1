import Foundation
@testable import PGNode
import Testing

@Suite struct DataDirectoryTests {
    @Test func emptinessAndTheRejoinMarker() throws {
        let dir = NSTemporaryDirectory() + "pgha-datadir-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(DataDirectory.isEmpty(dir), "a missing directory is empty")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(DataDirectory.isEmpty(dir))
        try DataDirectory.writeRejoinMarker(in: dir)
        #expect(FileManager.default.fileExists(atPath: DataDirectory.rejoinMarker(in: dir)))
        #expect(!DataDirectory.isEmpty(dir), "a directory with the marker is not empty: a restart keeps rejoining")
        try DataDirectory.removeRejoinMarker(in: dir)
        #expect(!FileManager.default.fileExists(atPath: DataDirectory.rejoinMarker(in: dir)))
        try DataDirectory.removeRejoinMarker(in: dir)  // idempotent
        #expect(throws: DataDirectoryError.self) { try DataDirectory.writeRejoinMarker(in: dir + "/missing") }
    }
}
