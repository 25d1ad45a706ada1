import Foundation
import NIOConcurrencyHelpers
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Spawns postmasters, always from the same thread, which lives as long as the process.
///
/// Why one thread: the postmaster is started as
/// `setpriv --pdeathsig QUIT [--reuid …] -- postgres -D …`, so the kernel sends it SIGQUIT (an
/// immediate shutdown) when its parent goes away and a primary never outlives the agent.
/// Linux sends that parent-death signal when the *thread* that forked the child exits, not the
/// process. A postmaster forked from a short-lived thread (or a pool thread that is later
/// retired) would be shut down by that thread's end. All spawns therefore go through this
/// type's single thread: a one-thread `NIOThreadPool` that is started once and never shut
/// down (its queue is the request queue; `runIfActive` hands the pid back). `spawningThreads`
/// records which thread spawned, so a test can check it never changed.
///
/// The child gets stdin from /dev/null, stdout and stderr appended to the log file, every
/// other descriptor closed (`posix_spawn_file_actions_addclosefrom_np`: the agent's sockets
/// and Raft files must not leak into Postgres), default signal handlers and an empty signal
/// mask, and a process group of its own (a Ctrl-C at the agent's terminal does not reach it).
final class PostmasterSpawner: Sendable {
    /// The process-wide spawner.
    static let shared = PostmasterSpawner()

    /// What to spawn.
    struct Request: Sendable {
        /// The program (setpriv), with `arguments` as argv[1...].
        var executable: String
        var arguments: [String]
        var environment: [String: String]
        /// stdout and stderr, opened for append (created with mode 0600 if missing).
        var logFile: String
    }

    private let thread: NIOThreadPool
    private let spawningThreadIDs = NIOLockedValueBox<Set<UInt>>([])

    private init() {
        thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    /// The threads (`pthread_self()`) that have spawned so far: at most one, ever.
    var spawningThreads: Set<UInt> { spawningThreadIDs.withLockedValue { $0 } }

    /// Spawns `request` on the spawner's thread; returns the child's pid once it runs
    /// `executable` (posix_spawn returns after the exec).
    func spawn(_ request: Request) async throws -> pid_t {
        try await thread.runIfActive {
            self.spawningThreadIDs.withLockedValue { _ = $0.insert(UInt(pthread_self())) }
            return try Self.posixSpawn(request)
        }
    }

    private static func posixSpawn(_ request: Request) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, request.logFile, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeDescriptors(from: 3, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)

        let argv = CStringArray([request.executable] + request.arguments)
        let envp = CStringArray(request.environment.map { "\($0.key)=\($0.value)" })
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, request.executable, &actions, &attributes, argv.pointers, envp.pointers)
        guard rc == 0 else {
            throw PostgresError(.startFailed, what: "spawning the postmaster failed",
                                location: ([request.executable] + request.arguments).joined(separator: " "),
                                detail: String(cString: strerror(rc)),
                                remedy: "check that \(request.executable) exists and that the log file \(request.logFile) can be opened")
        }
        return pid
    }

    /// Closes every descriptor from `first` up in the child: glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34+, looked up at run time because Swift's
    /// Glibc module does not declare it), else each descriptor open now.
    private static func closeDescriptors(from first: Int32, in actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") {
            let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
            if addCloseFrom(&actions, first) == 0 { return }
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd >= first {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}

/// A NULL-terminated array of C strings that lives as long as the value.
private final class CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { pointers[i] = strdup(s) }
        pointers[strings.count] = nil
    }

    deinit {
        for i in 0..<count { free(pointers[i]) }
        pointers.deallocate()
    }
}
