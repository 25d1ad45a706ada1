#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Blocking POSIX file operations with the durability guarantees `DiskStorage` builds on.
///
/// Every function retries `EINTR`, writes all bytes or throws, and reports failures as
/// `DiskStorageError.io` naming the operation and the path. "Synced" means the data (and the
/// metadata needed to read it back, such as the file size) reached stable storage:
/// `fdatasync` on Linux, `fcntl(F_FULLFSYNC)` on Darwin (where plain `fsync` only reaches the
/// drive's cache).
enum DurableFile {
    // MARK: Whole files

    /// Replaces the file `name` in `directory` with `bytes` so that after a crash at any
    /// moment it holds either the old or the new contents, never a mix: writes
    /// `name.tmp`, syncs it, renames it over `name` and syncs the directory.
    static func writeAtomically(_ bytes: [UInt8], name: String, in directory: String, directoryFD: Int32) throws(DiskStorageError) {
        let path = directory + "/" + name
        let temp = path + ".tmp"
        let fd = try open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try writeAll(fd, bytes, at: 0, path: temp)
            try sync(fd, path: temp)
        } catch {
            systemClose(fd)
            throw error
        }
        try close(fd, path: temp)
        try rename(temp, to: path)
        try syncDirectory(directoryFD, path: directory)
    }

    /// The whole contents of `path`, or `nil` if there is no such file.
    static func readIfPresent(_ path: String) throws(DiskStorageError) -> [UInt8]? {
        let fd = retryingEINTR { systemOpen(path, O_RDONLY | O_CLOEXEC, 0) }
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw .io(operation: "open", path: path, errno: code)
        }
        defer { systemClose(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { buf -> Int in
                guard let base = buf.baseAddress else { return 0 }
                return retryingEINTR { pread(fd, base + done, size - done, off_t(done)) }
            }
            if n < 0 { throw .io(operation: "read", path: path, errno: errno) }
            if n == 0 { break }  // The file shrank under us: return what is there.
            done += n
        }
        if done < size { bytes.removeSubrange(done...) }
        return bytes
    }

    // MARK: File descriptors

    /// Opens `path` with `flags` (plus `O_CLOEXEC`), creating it with mode 0644 if
    /// `O_CREAT` is among them.
    static func open(_ path: String, flags: Int32) throws(DiskStorageError) -> Int32 {
        let fd = retryingEINTR { systemOpen(path, flags | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        return fd
    }

    /// Writes all of `bytes` at `offset`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(DiskStorageError) {
        try bytes.withUnsafeBytes { buf in
            Result { () throws(DiskStorageError) in try writeAll(fd, buf, at: offset, path: path) }
        }.get()
    }

    /// Writes all of `buffer` at `offset`.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int, path: String) throws(DiskStorageError) {
        guard let base = buffer.baseAddress else { return }  // Nothing to write.
        var done = 0
        while done < buffer.count {
            let n = retryingEINTR {
                pwrite(fd, base + done, buffer.count - done, off_t(offset + done))
            }
            guard n > 0 else { throw .io(operation: "write", path: path, errno: n < 0 ? errno : EIO) }
            done += n
        }
    }

    /// Makes everything written to `fd` (including a size change) durable.
    static func sync(_ fd: Int32, path: String) throws(DiskStorageError) {
        #if canImport(Darwin)
        if fcntl(fd, F_FULLFSYNC) == 0 { return }
        // Some file systems do not support F_FULLFSYNC; fall back to fsync.
        guard retryingEINTR({ fsync(fd) }) == 0 else { throw .io(operation: "fsync", path: path, errno: errno) }
        #else
        guard retryingEINTR({ fdatasync(fd) }) == 0 else { throw .io(operation: "fdatasync", path: path, errno: errno) }
        #endif
    }

    /// Makes the directory's entries (created, renamed, removed files) durable.
    static func syncDirectory(_ fd: Int32, path: String) throws(DiskStorageError) {
        guard retryingEINTR({ fsync(fd) }) == 0 else { throw .io(operation: "fsync (directory)", path: path, errno: errno) }
    }

    /// Cuts the file to `length` bytes (not yet synced).
    static func truncate(_ fd: Int32, to length: Int, path: String) throws(DiskStorageError) {
        guard retryingEINTR({ ftruncate(fd, off_t(length)) }) == 0 else {
            throw .io(operation: "ftruncate to \(length) bytes", path: path, errno: errno)
        }
    }

    /// Closes `fd`, reporting a failure (which on some file systems reports a lost write).
    static func close(_ fd: Int32, path: String) throws(DiskStorageError) {
        guard systemClose(fd) == 0 else { throw .io(operation: "close", path: path, errno: errno) }
    }

    // MARK: Directories

    /// Creates `path` (and missing parents) if needed and syncs the parent directory so the
    /// new directory survives a crash. Then opens it for `fsync` and takes an exclusive
    /// `flock` on it, so one directory has one owner; the lock goes with the descriptor.
    static func openDirectory(_ path: String) throws(DiskStorageError) -> Int32 {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw .io(operation: "create directory (\(error.localizedDescription))", path: path, errno: EIO)
            }
            let parent = (path as NSString).deletingLastPathComponent
            let parentFD = try open(parent.isEmpty ? "." : parent, flags: O_RDONLY)
            defer { systemClose(parentFD) }
            try syncDirectory(parentFD, path: parent)
        } else if !isDirectory.boolValue {
            throw .io(operation: "open directory", path: path, errno: ENOTDIR)
        }
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            systemClose(fd)
            if code == EWOULDBLOCK { throw .directoryInUse(directory: path) }
            throw .io(operation: "flock", path: path, errno: code)
        }
        return fd
    }

    /// The names in `path` (no `.` or `..`).
    static func list(_ path: String) throws(DiskStorageError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw .io(operation: "list directory (\(error.localizedDescription))", path: path, errno: EIO)
        }
    }

    /// Removes the file at `path` (not yet synced: sync the directory).
    static func remove(_ path: String) throws(DiskStorageError) {
        guard unlink(path) == 0 else { throw .io(operation: "unlink", path: path, errno: errno) }
    }

    /// Renames `from` to `to`, replacing `to` (not yet synced: sync the directory).
    static func rename(_ from: String, to: String) throws(DiskStorageError) {
        guard systemRename(from, to) == 0 else { throw .io(operation: "rename to \(to)", path: from, errno: errno) }
    }

    // MARK: Plumbing

    static func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let r = call()
            if r < 0 && errno == EINTR { continue }
            return r
        }
    }
}

// The libc functions whose names `DurableFile` shadows.
@inline(__always) private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Darwin)
    Darwin.open(path, flags, mode)
    #elseif canImport(Musl)
    Musl.open(path, flags, mode)
    #else
    Glibc.open(path, flags, mode)
    #endif
}

@inline(__always) private func systemRename(_ from: String, _ to: String) -> Int32 {
    #if canImport(Darwin)
    Darwin.rename(from, to)
    #elseif canImport(Musl)
    Musl.rename(from, to)
    #else
    Glibc.rename(from, to)
    #endif
}

/// `close(2)`, named apart from `DurableFile.close`.
@discardableResult @inline(__always) func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Darwin)
    Darwin.close(fd)
    #elseif canImport(Musl)
    Musl.close(fd)
    #else
    Glibc.close(fd)
    #endif
}
