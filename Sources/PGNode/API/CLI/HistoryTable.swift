/// The rows of `pgha history` from a `GET /history` document (`[[timeline, lsn, reason,
/// timestamp, new_leader], …]`; short rows are padded with empty values).
public struct HistoryTable: Sendable {
    public static let columns = ["TL", "LSN", "Reason", "Timestamp", "New Leader"]
    /// Five cells per row.
    public var rows: [[String]]

    public init(history doc: JSONValue) {
        rows = (doc.arrayValue ?? []).map { entry in
            let cells = (entry.arrayValue ?? []).prefix(5).map(\.displayText)
            return cells + Array(repeating: "", count: 5 - cells.count)
        }
    }

    /// The table (TL and LSN right-aligned), without a title.
    public func pretty() -> String {
        TextTable(columns: Self.columns.enumerated().map { .init($1, rightAligned: $0 < 2) }, rows: rows).render()
    }

    /// Objects keyed by the column names (empty values kept; TL and LSN as numbers).
    public func records() -> JSONValue {
        .array(rows.map { r in
            var o: [String: JSONValue] = [:]
            for (i, key) in Self.columns.enumerated() {
                o[key] = i < 2 ? Int64(r[i]).map(JSONValue.int) ?? .string(r[i]) : .string(r[i])
            }
            return .object(o)
        })
    }
}
