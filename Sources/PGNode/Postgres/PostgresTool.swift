import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run of a Postgres command-line tool (initdb, pg_controldata, pg_basebackup,
/// pg_rewind) as the Postgres OS user, with a time limit and captured output.
///
/// The tool is started with Foundation `Process` as
/// `/usr/bin/setpriv --pdeathsig KILL [--reuid U --regid G --init-groups] -- tool args`: it
/// dies if the thread that started it (a thread-pool thread, alive as long as the pool)
/// goes away. stdout and stderr go to temporary files, so a chatty tool never blocks on a full
/// pipe. The environment is the agent's without `PG*` variables, with `LC_ALL=C` (messages
/// pgha parses stay English) and `extraEnvironment` (for example `PGPASSFILE`).
///
/// Blocking: call only on the controller's thread pool.
struct PostgresTool {
    /// What a finished run produced.
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String

        /// The last lines of stderr (or of stdout if stderr is empty): what goes into errors.
        var tail: String {
            let text = stderr.isEmpty ? stdout : stderr
            return PostgresTool.tail(of: text)
        }
    }

    static let setpriv = "/usr/bin/setpriv"

    let executable: String
    let arguments: [String]
    let user: PostgresOSUser
    var extraEnvironment: [String: String] = [:]
    var timeout: Duration

    /// Runs the tool to its end (or kills it at the time limit) and returns what it printed.
    /// Throws only when the tool could not be started or ran out of time; a non-zero exit
    /// status is returned for the caller to judge.
    func run() throws -> Output {
        let out = try TemporaryFile(prefix: "pgha-tool-out")
        let err = try TemporaryFile(prefix: "pgha-tool-err")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.setpriv)
        process.arguments = user.setprivArguments(pdeathsig: "KILL") + [executable] + arguments
        process.environment = Self.environment(extra: extraEnvironment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out.handle
        process.standardError = err.handle
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw PostgresError(.toolFailed, what: "starting \(name) failed", location: executable, detail: "\(error)",
                                remedy: "check that \(Self.setpriv) and \(executable) exist and are executable (package postgresql-15, util-linux)")
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            process.terminate()
            if finished.wait(timeout: .now() + 5) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
            throw PostgresError(.timedOut, what: "\(name) did not finish within \(timeout) and was killed",
                                location: ([executable] + arguments).joined(separator: " "), detail: Self.tail(of: err.contents()),
                                remedy: "look at what it was waiting for (network, disk, the source server); raise the limit if the work is just large")
        }
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: out.contents(), stderr: err.contents())
    }

    /// The tool's file name, for messages.
    var name: String { (executable as NSString).lastPathComponent }

    /// The agent's environment without `PG*` variables, with `LC_ALL=C` and `extra`.
    static func environment(extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && !$0.key.hasPrefix("LC_") }
        env["LC_ALL"] = "C"
        env.merge(extra) { $1 }
        return env
    }

    /// The last `lines` lines of `text`, at most `bytes` bytes.
    static func tail(of text: String, lines: Int = 20, bytes: Int = 4000) -> String {
        var kept = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
        if kept.utf8.count > bytes { kept = "…" + String(decoding: kept.utf8.suffix(bytes), as: UTF8.self) }
        return kept
    }
}

/// A temporary file, removed when the value goes away: captures a tool's output.
private final class TemporaryFile {
    let path: String
    let handle: FileHandle

    init(prefix: String) throws {
        path = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString)"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PostgresError(.fileSystem, what: "creating a temporary file failed", location: path,
                                detail: String(cString: strerror(errno)), remedy: "check that the temporary directory is writable and not full")
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    func contents() -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    deinit { unlink(path) }
}
