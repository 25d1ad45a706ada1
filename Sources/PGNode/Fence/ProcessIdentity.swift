#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a pid still is the program the fence guard was told to watch, read from
/// `/proc/<pid>/stat`, `comm` and `cmdline` (Linux).
///
/// Guarantees: `.matches` only for a live (not zombie) process whose `comm` is the expected name
/// or whose `argv[0]` has it as its last path component (the kernel cuts `comm` to 15 bytes, so
/// a longer name can match only through `argv[0]`); a pid that is missing, a zombie, or unreadable is `.gone`; any other live process
/// is `.different`. Never traps on odd file contents. It cannot close the race between the check
/// and a `kill()` that follows it; pids are reused only after the pid space wraps, so that window
/// (microseconds) is accepted.
public enum ProcessIdentity: Hashable, Sendable {
    /// A live process running the expected program.
    case matches
    /// No such live process: it exited (a zombie only holds an exit status) or cannot be read.
    case gone
    /// A live process running something else (the pid was reused), named as `/proc` says.
    case different(String)

    /// Looks `pid` up under `procRoot` (tests pass a directory of fake entries).
    public static func of(pid: Int32, expected: String, procRoot: String = "/proc") -> ProcessIdentity {
        guard pid > 0 else { return .gone }
        let dir = "\(procRoot)/\(pid)"
        guard let stat = readSmallFile("\(dir)/stat"), let state = processState(stat) else { return .gone }
        if state == UInt8(ascii: "Z") || state == UInt8(ascii: "X") || state == UInt8(ascii: "x") { return .gone }
        let comm = readSmallFile("\(dir)/comm").map { String(decoding: $0, as: UTF8.self) }?
            .trimmingTrailingNewline() ?? ""
        let argv0 = readSmallFile("\(dir)/cmdline").map { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        } ?? ""
        let program = argv0.split(separator: "/").last.map(String.init) ?? ""
        if !expected.isEmpty && (comm == expected || program == expected) {
            return .matches
        }
        return .different(comm.isEmpty ? program : comm)
    }

    /// The state letter of a `/proc/<pid>/stat` line: the first field after the last `)`
    /// (the command name in parentheses may itself contain spaces and parentheses).
    static func processState(_ stat: [UInt8]) -> UInt8? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        return stat[(close + 1)...].first { $0 != UInt8(ascii: " ") }
    }

    /// Up to 4 KiB of a file, or nil if it cannot be opened.
    static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var filled = 0
        while filled < buffer.count {
            let n = buffer.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + filled, raw.count - filled)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        return Array(buffer.prefix(filled))
    }
}

extension String {
    fileprivate func trimmingTrailingNewline() -> String {
        var s = Substring(self)
        while s.last == "\n" { s = s.dropLast() }
        return String(s)
    }
}
