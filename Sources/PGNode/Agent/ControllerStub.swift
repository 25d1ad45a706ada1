// TEMPORARY: the API of PostgresController (being written on branch pg-controller), so the agent
// compiles before the merge. Deleted at the merge.
import HACore
import Logging
import NIOPosix

public struct PostgresCredentials: Sendable, Hashable { public var user: String; public var password: String? }
public struct PostgresSettings: Sendable, Hashable {
    public var memberName: String
    public var binDirectory: String
    public var dataDirectory: String
    public var listenHost: String
    public var port: Int
    public var socketDirectory: String
    public var logFile: String
    public var parameters: [String: String]
    public var superuser: PostgresCredentials
    public var replication: PostgresCredentials
    public var pgHba: [String]
    public var runAs: String?
}
public struct PostgresUpstream: Sendable, Hashable { public var member: String; public var host: String; public var port: Int }
public enum PostgresStartMode: Sendable, Hashable { case primary; case standby(following: PostgresUpstream?) }
public enum PostgresStopMode: Sendable { case fast, immediate }
public enum RewindResult: Sendable, Hashable { case rewound, notNeeded }
public final class PostgresController: Sendable {
    public init(settings: PostgresSettings, threadPool: NIOThreadPool, logger: Logger, onUnexpectedExit: @escaping @Sendable (Int32) -> Void) { self.settings = settings }
    public let settings: PostgresSettings
    public func inspectDataDirectory() async -> DataDirectoryState { .empty }
    public func bootstrap() async throws -> UInt64 { 0 }
    public func start(_ mode: PostgresStartMode) async throws {}
    public func waitUntilReady(timeout: Duration) async -> Bool { false }
    public func stop(_ mode: PostgresStopMode, timeout: Duration) async {}
    public func fenceNow() -> Bool { false }
    public var postmasterPID: Int32? { nil }
    public var process: PostgresProcess { .stopped }
    public func observe() async -> LocalPostgres { LocalPostgres(dataDirectory: .empty, process: .stopped) }
    public func promote(waitSeconds: Int) async throws -> (timeline: UInt32, lsn: LSN) { (1, .zero) }
    public func follow(_ upstream: PostgresUpstream) async throws {}
    public func rewind(from source: PostgresUpstream) async throws -> RewindResult { .notNeeded }
    public func rebuild(from source: PostgresUpstream) async throws {}
    public func removeSetAsideDirectories() async -> [String] { [] }
    public func syncSlots(_ names: Set<String>) async throws {}
    public static func slotName(for member: String) -> String { member }
    public func query(_ sql: String) async throws -> [[String?]] { [] }
}
