import Foundation
import Logging

/// The events a user's callback script can be run for (Patroni's `postgresql.callbacks`).
public enum CallbackEvent: String, Sendable, Hashable, CaseIterable {
    case onStart = "on_start"
    case onStop = "on_stop"
    case onRestart = "on_restart"
    case onReload = "on_reload"
    case onRoleChange = "on_role_change"
}

/// The user's scripts (`postgresql.callbacks`, `postgresql.pre_promote`,
/// `postgresql.callback_timeout_ms`). Each script runs as `<command…> <action> <role> <cluster>`
/// (Patroni's arguments), as the agent's OS user, with the agent's environment.
public struct CallbackSettings: Sendable, Hashable {
    /// The command (program and leading arguments) for each event.
    public var scripts: [CallbackEvent: [String]] = [:]
    /// Run before every promotion, synchronously; a non-zero exit (or a timeout) cancels the
    /// promotion, and another member is tried. A fencing hook: it can, for example, make sure
    /// the old primary's host is powered off.
    public var prePromote: [String]?
    /// A callback or `pre_promote` still running after this long is killed (the promotion is
    /// then cancelled).
    public var timeout: Duration = .seconds(30)

    public init(scripts: [CallbackEvent: [String]] = [:], prePromote: [String]? = nil, timeout: Duration = .seconds(30)) {
        self.scripts = scripts
        self.prePromote = prePromote
        self.timeout = timeout
    }

    /// The `postgresql.callbacks` mapping.
    static func parseScripts(_ value: Any?, _ r: inout SectionReader) -> [CallbackEvent: [String]] {
        guard let value else { return [:] }
        guard let m = value as? [String: Any] else {
            r.fail("postgresql.callbacks", "must be a mapping of event to command")
            return [:]
        }
        var scripts: [CallbackEvent: [String]] = [:]
        for (key, v) in m.sorted(by: { $0.key < $1.key }) {
            guard let event = CallbackEvent(rawValue: key) else {
                r.fail("postgresql.callbacks.\(key)", "is not a callback event (known: \(CallbackEvent.allCases.map(\.rawValue).joined(separator: ", ")))")
                continue
            }
            if let command = parseCommand(v, "postgresql.callbacks.\(key)", &r) { scripts[event] = command }
        }
        return scripts
    }

    /// A command: a string (split at spaces) or a list of strings; the program must be an
    /// absolute path.
    static func parseCommand(_ value: Any, _ key: String, _ r: inout SectionReader) -> [String]? {
        let words: [String]
        if let s = value as? String {
            words = s.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        } else if let list = value as? [Any], list.allSatisfy({ $0 is String }) {
            words = list.map { $0 as! String }
        } else {
            r.fail(key, "must be a command: a string or a list of strings")
            return nil
        }
        guard let program = words.first, program.hasPrefix("/") else {
            r.fail(key, "must start with the absolute path of the program to run")
            return nil
        }
        return words
    }
}

/// Runs the user's callbacks: event callbacks in the background (they never hold the HA loop;
/// their output is logged; one still running after the timeout is killed), `pre_promote` to
/// completion.
struct CallbackRunner: Sendable {
    let settings: CallbackSettings
    let cluster: String
    let logger: Logger

    /// Starts `event`'s script, if one is configured, and returns at once.
    func fire(_ event: CallbackEvent, role: String) {
        guard let command = settings.scripts[event] else { return }
        let runner = self
        Thread.detachNewThread {
            _ = runner.runBlocking(command, action: event.rawValue, role: role)
        }
    }

    /// Runs `pre_promote` (if configured) and returns nil when the promotion may go on, else why not.
    func prePromote(role: String) async -> String? {
        guard let command = settings.prePromote else { return nil }
        let runner = self
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: runner.runBlocking(command, action: "pre_promote", role: role))
            }
        }
    }

    /// Runs `command action role cluster`; nil when it exited 0, else what went wrong. Blocking.
    private func runBlocking(_ command: [String], action: String, role: String) -> String? {
        let tool = PostgresTool(executable: command[0], arguments: Array(command.dropFirst()) + [action, role, cluster],
                                user: .current, timeout: settings.timeout)
        let meta: Logger.Metadata = ["callback": "\(action)", "command": "\(command.joined(separator: " "))", "role": "\(role)"]
        do {
            let output = try tool.run()
            var m = meta
            m["exit_status"] = "\(output.status)"
            let text = PostgresTool.tail(of: output.stdout + output.stderr)
            if !text.isEmpty { m["output"] = "\(text)" }
            if output.status == 0 {
                logger.info("callback finished", metadata: m)
                return nil
            }
            logger.warning("callback failed", metadata: m)
            return "\(action) exited with status \(output.status)" + (text.isEmpty ? "" : ": \(text)")
        } catch {
            var m = meta
            m["error"] = "\(error)"
            logger.error("callback did not run to completion", metadata: m)
            return "\(action) did not complete: \(error)"
        }
    }
}
