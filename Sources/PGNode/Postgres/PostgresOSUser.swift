import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The OS user Postgres runs as, and the file work done on its behalf: directories and files
/// pgha creates for Postgres are owned by this user, and every Postgres binary is started
/// through `setpriv` as this user.
///
/// Blocking (name service lookups, file system): use only on the controller's thread pool.
struct PostgresOSUser: Sendable, Hashable {
    /// The user name, or nil for "the current user" (no switch, no chown).
    let name: String?
    let uid: uid_t
    let gid: gid_t

    /// The current user: binaries run without switching, files keep their owner.
    static var current: PostgresOSUser { PostgresOSUser(name: nil, uid: geteuid(), gid: getegid()) }

    /// Looks `name` up in the user database (nil: the current user).
    static func resolve(_ name: String?) throws -> PostgresOSUser {
        guard let name else { return .current }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else {
            throw PostgresError(.fileSystem, what: "looking up the OS user '\(name)' failed", location: "runAs",
                                detail: rc == 0 ? nil : String(cString: strerror(rc)),
                                remedy: "create the user (for example `adduser --system --group \(name)`, or install Postgres, which creates 'postgres') or set runAs to an existing unprivileged user")
        }
        return PostgresOSUser(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// `setpriv` arguments that run `tool` as this user, with `pdeathsig` (a signal name
    /// such as "QUIT") delivered when the spawning thread exits. setpriv sets the parent-death
    /// signal after switching credentials (a credential change clears it).
    func setprivArguments(pdeathsig: String?) -> [String] {
        var args: [String] = []
        if let pdeathsig { args += ["--pdeathsig", pdeathsig] }
        if let name { args += ["--reuid", name, "--regid", "\(gid)", "--init-groups"] }
        args.append("--")
        return args
    }

    /// Creates `path` if missing (its parents too, with mode 0755) and gives it to this user
    /// with `mode`; with `onlyIfMissing`, a directory that exists is left as it is (a shared
    /// log directory, say).
    func createDirectory(_ path: String, mode: mode_t = 0o700, onlyIfMissing: Bool = false) throws {
        if onlyIfMissing, FileManager.default.fileExists(atPath: path) { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PostgresError(.fileSystem, what: "creating the directory failed", location: path,
                                detail: "\(error)", remedy: "check that the parent directory exists and is writable by the agent")
        }
        try own(path, mode: mode)
    }

    /// Writes `contents` to `path` atomically (temporary file, rename), owned by this user with
    /// `mode`.
    func writeFile(_ path: String, _ contents: String, mode: mode_t = 0o600) throws {
        let temporary = path + ".pgha-tmp"
        let data = Data(contents.utf8)
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: Int(mode)]) else {
            throw PostgresError(.fileSystem, what: "writing the file failed", location: temporary,
                                detail: String(cString: strerror(errno)), remedy: "check that the directory exists and is writable by the agent")
        }
        try own(temporary, mode: mode)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PostgresError(.fileSystem, what: "replacing the file failed", location: path, detail: reason,
                                remedy: "check that the directory is writable by the agent")
        }
    }

    /// Creates `path` empty if it does not exist (leaves its contents otherwise) and gives it
    /// to this user with `mode`.
    func createFileIfMissing(_ path: String, mode: mode_t = 0o600) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw PostgresError(.fileSystem, what: "creating the file failed", location: path,
                                detail: String(cString: strerror(errno)), remedy: "check that its directory exists and is writable by the agent")
        }
        close(fd)
        try own(path, mode: mode)
    }

    /// Gives `path` to this user (chown when `name` is set) and sets `mode`.
    func own(_ path: String, mode: mode_t) throws {
        if name != nil, chown(path, uid, gid) != 0 {
            throw PostgresError(.fileSystem, what: "changing the owner failed", location: path,
                                detail: String(cString: strerror(errno)), remedy: "run the agent as root, or as the user Postgres runs as with runAs unset")
        }
        guard chmod(path, mode) == 0 else {
            throw PostgresError(.fileSystem, what: "changing the mode failed", location: path,
                                detail: String(cString: strerror(errno)), remedy: "check that the agent owns the file or runs as root")
        }
    }
}
