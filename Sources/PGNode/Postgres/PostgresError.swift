/// A Postgres control operation that failed, said so that a person can act on it: what
/// failed, where (a path, a server, a tool), what the tool or server said (the tail of its
/// stderr or the server's error message), and what to do about it.
public struct PostgresError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The class of failure, for code that must tell them apart.
    public enum Kind: String, Sendable, Hashable {
        /// `PostgresSettings.validate(_:)` found problems; nothing was done.
        case invalidSettings
        /// The operation needs Postgres stopped and it runs.
        case running
        /// The operation needs Postgres running and it does not.
        case notRunning
        /// bootstrap() found a data directory that is not empty.
        case dataDirectoryNotEmpty
        /// A Postgres tool (initdb, pg_basebackup, pg_rewind, pg_controldata) failed.
        case toolFailed
        /// A tool or a wait did not finish in time.
        case timedOut
        /// Connecting to Postgres or running a statement failed.
        case queryFailed
        /// The postmaster could not be spawned, or exited before it accepted connections.
        case startFailed
        /// A fence (`fenceNow()`) arrived while the postmaster was being spawned: it was
        /// stopped at once.
        case fenced
        /// Creating, moving or writing a file or directory failed, or the OS user is unknown.
        case fileSystem
        /// The thread pool given to the controller is not running (shut down, or never started).
        case controllerStopped
    }

    public var kind: Kind
    /// What failed, for example "pg_basebackup from db2".
    public var what: String
    /// Where: the data directory, the server address, the file.
    public var location: String
    /// What the tool or server said (the tail of its output), if anything.
    public var detail: String?
    /// What to do about it.
    public var remedy: String

    public init(_ kind: Kind, what: String, location: String, detail: String? = nil, remedy: String) {
        self.kind = kind
        self.what = what
        self.location = location
        self.detail = detail
        self.remedy = remedy
    }

    /// One paragraph: "<what> failed (<location>): <remedy>", then the indented detail.
    public var description: String {
        var text = "\(what) (\(location)): \(remedy)"
        if let detail, !detail.isEmpty {
            let indented = detail.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
            text += "\n" + indented.joined(separator: "\n")
        }
        return text
    }
}
