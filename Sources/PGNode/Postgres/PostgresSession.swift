import Foundation
import CLibPQ

/// One libpq connection, opened, used and closed within one thread-pool job (libpq calls
/// block; the connection is an `OpaquePointer` and not `Sendable`, so it never leaves the
/// thread that opened it).
final class PostgresSession {
    private let connection: OpaquePointer
    /// Where the connection goes, for messages.
    let location: String

    /// Connects with `conninfo` (libpq's `key=value` form). Blocking.
    init(conninfo: String, location: String) throws {
        guard let c = PQconnectdb(conninfo) else {
            throw PostgresError(.queryFailed, what: "connecting to Postgres failed", location: location,
                                detail: "libpq could not allocate a connection", remedy: "the agent is out of memory; restart it")
        }
        guard PQstatus(c) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(c))
            PQfinish(c)
            throw PostgresError(.queryFailed, what: "connecting to Postgres failed", location: location, detail: message,
                                remedy: "check that Postgres runs and accepts connections there (its log says why not)")
        }
        connection = c
        self.location = location
    }

    deinit { PQfinish(connection) }

    /// Runs blocking libpq work on a thread of its own (never on the cooperative pool), for
    /// callers outside the controller's thread pool: the benchmark's client, tests.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            Thread { c.resume(with: Result { try body() }) }.start()
        }
    }

    /// Runs one statement and returns its rows, every value as text (nil for NULL); a statement
    /// without a result set returns no rows.
    func rows(_ sql: String) throws -> [[String?]] {
        guard let result = PQexec(connection, sql) else {
            throw PostgresError(.queryFailed, what: "running a statement failed", location: location,
                                detail: Self.trimmed(PQerrorMessage(connection)), remedy: "the connection broke; check the Postgres log")
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK:
            let rowCount = PQntuples(result), columnCount = PQnfields(result)
            return (0..<rowCount).map { row in
                (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                }
            }
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        default:
            throw PostgresError(.queryFailed, what: "the statement `\(Self.abbreviated(sql))` failed", location: location,
                                detail: Self.trimmed(PQresultErrorMessage(result)), remedy: "see the server's message above")
        }
    }

    /// `text` as an SQL string literal (libpq's escaping for this connection).
    func literal(_ text: String) throws -> String { try escape(text, as: "a literal", with: PQescapeLiteral) }

    /// `name` as an SQL identifier (double-quoted as needed).
    func identifier(_ name: String) throws -> String { try escape(name, as: "an identifier", with: PQescapeIdentifier) }

    private func escape(_ text: String, as kind: String,
                        with function: (OpaquePointer?, UnsafePointer<CChar>?, Int) -> UnsafeMutablePointer<CChar>?) throws -> String {
        guard let escaped = function(connection, text, text.utf8.count) else {
            throw PostgresError(.queryFailed, what: "escaping \(kind) failed", location: location,
                                detail: Self.trimmed(PQerrorMessage(connection)), remedy: "the value is not valid in the server's encoding")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func abbreviated(_ sql: String) -> String {
        let oneLine = sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        return oneLine.count > 80 ? String(oneLine.prefix(77)) + "..." : oneLine
    }
}
