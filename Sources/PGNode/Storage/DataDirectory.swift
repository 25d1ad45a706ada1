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
}
