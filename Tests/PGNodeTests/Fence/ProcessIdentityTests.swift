#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import PGNode

@Suite struct ProcessIdentityTests {
    /// A fake `/proc` with one entry.
    func fakeProc(pid: Int32, stat: String?, comm: String?, cmdline: [UInt8]?) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)").path
        let dir = "\(root)/\(pid)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if let stat { try Data(stat.utf8).write(to: URL(fileURLWithPath: "\(dir)/stat")) }
        if let comm { try Data(comm.utf8).write(to: URL(fileURLWithPath: "\(dir)/comm")) }
        if let cmdline { try Data(cmdline).write(to: URL(fileURLWithPath: "\(dir)/cmdline")) }
        return root
    }

    static func argv(_ args: String...) -> [UInt8] { args.flatMap { Array($0.utf8) + [0] } }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var stat: String?
        var comm: String?
        var cmdline: [UInt8]?
        var expected: ProcessIdentity
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "postmaster by comm", stat: "42 (postgres) S 1 42 42 0", comm: "postgres\n",
             cmdline: argv("/usr/lib/postgresql/15/bin/postgres", "-D", "/data"), expected: .matches),
        Case(name: "postmaster by argv[0] when comm differs", stat: "42 (x) S 1", comm: "x\n",
             cmdline: argv("/usr/lib/postgresql/15/bin/postgres"), expected: .matches),
        Case(name: "a zombie is gone", stat: "42 (postgres) Z 1", comm: "postgres\n", cmdline: [], expected: .gone),
        Case(name: "a dead task is gone", stat: "42 (postgres) X 1", comm: "postgres\n", cmdline: [], expected: .gone),
        Case(name: "a reused pid is different", stat: "42 (bash) S 1", comm: "bash\n", cmdline: argv("-bash"),
             expected: .different("bash")),
        Case(name: "a name that merely contains it is different", stat: "42 (postgres_exporter) S 1",
             comm: "postgres_export\n", cmdline: argv("/usr/bin/postgres_exporter"), expected: .different("postgres_export")),
        Case(name: "parentheses and spaces in comm", stat: "42 (we) (ird ) R 1", comm: "we) (ird \n", cmdline: [],
             expected: .different("we) (ird ")),
        Case(name: "no stat file is gone", stat: nil, comm: "postgres\n", cmdline: nil, expected: .gone),
        Case(name: "garbage stat is gone", stat: "garbage", comm: "postgres\n", cmdline: nil, expected: .gone),
        Case(name: "empty files", stat: "42 () S", comm: "", cmdline: [], expected: .different("")),
    ]

    @Test(arguments: cases)
    func identifiesFromProc(_ c: Case) throws {
        let root = try fakeProc(pid: 42, stat: c.stat, comm: c.comm, cmdline: c.cmdline)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(ProcessIdentity.of(pid: 42, expected: "postgres", procRoot: root) == c.expected)
    }

    @Test func aLongNameMatchesOnlyThroughArgv0() throws {
        let root = try fakeProc(pid: 9, stat: "9 (a-very-long-pro) S 1", comm: "a-very-long-pro\n",
                                cmdline: Self.argv("/opt/a-very-long-program", "-x"))
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(ProcessIdentity.of(pid: 9, expected: "a-very-long-program", procRoot: root) == .matches)
        #expect(ProcessIdentity.of(pid: 9, expected: "a-very-long-pro-other", procRoot: root) == .different("a-very-long-pro"))
        #expect(ProcessIdentity.of(pid: 9, expected: "a-very-long", procRoot: root) == .different("a-very-long-pro"))
    }

    @Test func realProcesses() {
        #expect(ProcessIdentity.of(pid: getpid(), expected: "definitely-not-this") != .matches)
        #expect(ProcessIdentity.of(pid: getpid(), expected: "definitely-not-this") != .gone)
        #expect(ProcessIdentity.of(pid: 0, expected: "x") == .gone)
        #expect(ProcessIdentity.of(pid: -1, expected: "x") == .gone)
        #expect(ProcessIdentity.of(pid: Int32.max, expected: "x") == .gone)
    }
}
