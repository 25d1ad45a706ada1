import Foundation

/// Facts about a node's data directory before its storage is opened.
public enum DataDirectory {
    /// Whether `path` is missing or holds no files at all (a new node, or one whose data was
    /// lost). Lock files and temporary files count: a directory with anything in it is not
    /// empty.
    public static func isEmpty(_ path: String) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return true }
        return names.isEmpty
    }

    /// The file that marks a node rejoining after data loss until it caught up.
    public static func rejoinMarker(in path: String) -> String { path + "/rejoin-pending" }

    /// Writes the rejoin marker durably (file and directory synced).
    public static func writeRejoinMarker(in path: String) throws {
        let file = rejoinMarker(in: path)
        guard FileManager.default.createFile(atPath: file, contents: Array("rejoining after data loss\n".utf8).withUnsafeBytes { Data($0) }) else {
            throw DataDirectoryError(path: file, reason: "cannot create the rejoin marker")
        }
        try syncPath(file)
        try syncPath(path)
    }

    /// Removes the rejoin marker durably, once the node caught up.
    public static func removeRejoinMarker(in path: String) throws {
        let file = rejoinMarker(in: path)
        guard FileManager.default.fileExists(atPath: file) else { return }
        try FileManager.default.removeItem(atPath: file)
        try syncPath(path)
    }

    private static func syncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataDirectoryError(path: path, reason: "cannot open to fsync (errno \(errno))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw DataDirectoryError(path: path, reason: "fsync failed (errno \(errno))") }
    }
}

/// A data directory operation that failed, with the path.
public struct DataDirectoryError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}
