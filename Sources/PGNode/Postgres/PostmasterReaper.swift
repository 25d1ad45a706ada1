import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How the postmaster ended.
struct PostmasterExit: Sendable, Hashable {
    /// `CLD_EXITED`, `CLD_KILLED` or `CLD_DUMPED`.
    var code: Int32
    /// The exit status (`CLD_EXITED`) or the signal number.
    var status: Int32

    /// As a shell reports it: the exit status, or 128 + the signal.
    var shellStatus: Int32 { code == Int32(CLD_EXITED) ? status : 128 + status }

    var description: String { code == Int32(CLD_EXITED) ? "exited with status \(status)" : "was killed by signal \(status)" }
}

/// Waits for one child to exit, on a thread of its own that blocks in `waitid` for that pid
/// (never for any child: other code in the process reaps its own children).
///
/// `onExit` runs on that thread while the exited child is still a zombie — its pid cannot be
/// reused yet, so whoever clears the pid under a lock in `onExit` can be sure that no signal
/// sent under the same lock hits a stranger — and only then is the child reaped. `onExit` must
/// not block for long.
enum PostmasterReaper {
    static func watch(_ pid: pid_t, onExit: @escaping @Sendable (PostmasterExit) -> Void) {
        let thread = Thread {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, Int32(WEXITED | WNOWAIT)) != 0 {
                guard errno == EINTR else {
                    // ECHILD: someone else reaped it (it is gone either way).
                    onExit(PostmasterExit(code: Int32(CLD_EXITED), status: -1))
                    return
                }
            }
            onExit(PostmasterExit(code: info.si_code, status: info._sifields._sigchld.si_status))
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        thread.name = "pgha-reaper-\(pid)"
        thread.start()
    }
}
