import Foundation
import Logging
import Testing
@testable import PGNode

/// The callback runner with real scripts: arguments, exit status, output, and the timeout that
/// kills a hung script.
@Suite struct CallbackRunnerTests {
    final class Scripts: @unchecked Sendable {
        let directory = "/tmp/pgha-callback-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        func make(_ name: String, _ body: String) throws -> String {
            let path = directory + "/" + name
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }
        func read(_ name: String) -> String { (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    static let logger = Logger(label: "test.callbacks") { _ in SwiftLogNoOpLogHandler() }

    @Test func prePromoteGetsActionRoleAndClusterAndItsExitStatusDecides() async throws {
        let s = try Scripts()
        let ok = try s.make("ok.sh", "echo \"$@\" > \(s.directory)/args; exit 0")
        let no = try s.make("no.sh", "echo refusing >&2; exit 3")
        let allow = CallbackRunner(settings: CallbackSettings(prePromote: [ok]), cluster: "prod", logger: Self.logger)
        #expect(await allow.prePromote(role: "replica") == nil)
        #expect(s.read("args") == "pre_promote replica prod\n")
        let refuse = CallbackRunner(settings: CallbackSettings(prePromote: [no, "--flag"]), cluster: "prod", logger: Self.logger)
        let why = await refuse.prePromote(role: "replica")
        #expect(why?.contains("exited with status 3") == true)
        #expect(why?.contains("refusing") == true)
        #expect(await CallbackRunner(settings: CallbackSettings(), cluster: "prod", logger: Self.logger).prePromote(role: "replica") == nil)
    }

    @Test func aHungPrePromoteIsKilledAfterTheTimeoutAndRefuses() async throws {
        let s = try Scripts()
        let hung = try s.make("hung.sh", "exec sleep 30")
        let runner = CallbackRunner(settings: CallbackSettings(prePromote: [hung], timeout: .milliseconds(300)), cluster: "c", logger: Self.logger)
        let started = ContinuousClock.now
        let why = await runner.prePromote(role: "replica")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(why?.contains("did not complete") == true)
    }

    @Test func eventCallbacksRunInTheBackground() async throws {
        let s = try Scripts()
        let slow = try s.make("slow.sh", "sleep 1; echo \"$@\" >> \(s.directory)/events")
        let runner = CallbackRunner(settings: CallbackSettings(scripts: [.onRoleChange: [slow]]), cluster: "c", logger: Self.logger)
        let started = ContinuousClock.now
        runner.fire(.onRoleChange, role: "primary")
        runner.fire(.onStart, role: "primary")  // none configured: nothing runs
        #expect(ContinuousClock.now - started < .milliseconds(500), "fire() waited for the script")
        let done = await eventually(.seconds(10)) { s.read("events").isEmpty ? nil : true }
        #expect(done == true)
        #expect(s.read("events") == "on_role_change primary c\n")
    }
}
