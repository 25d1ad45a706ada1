/// A text table in patronictl's style: `+---+` borders, `| a | b |` rows, an optional title
/// laid over the top border (`+ Cluster: demo (7123…) -+-----+`).
///
/// Guarantees: every line has the same width (in characters); right-aligned columns pad on
/// the left; a title longer than the table widens the last column.
public struct TextTable: Sendable {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var rightAligned: Bool
        public init(_ name: String, rightAligned: Bool = false) {
            self.name = name
            self.rightAligned = rightAligned
        }
    }

    public var columns: [Column]
    /// Cells by row; a short row is padded with empty cells.
    public var rows: [[String]]
    public var title: String?

    public init(columns: [Column], rows: [[String]], title: String? = nil) {
        self.columns = columns
        self.rows = rows
        self.title = title
    }

    /// The table's lines joined with newlines (no trailing newline).
    public func render() -> String {
        var widths = columns.map(\.name.count)
        for row in rows {
            for (i, cell) in row.prefix(columns.count).enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func border(_ w: [Int]) -> String { "+" + w.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+" }
        var top = border(widths)
        if let title, !widths.isEmpty {
            let head = "+ \(title) "
            if head.count + 1 > top.count { widths[widths.count - 1] += head.count + 1 - top.count }
            let full = border(widths)
            top = head + full.dropFirst(head.count)
            if top.last != "+" { top.removeLast(); top.append("+") }
        }
        let separator = border(widths)
        func line(_ cells: [String]) -> String {
            let padded = columns.indices.map { i -> String in
                let cell = i < cells.count ? cells[i] : ""
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return columns[i].rightAligned ? pad + cell : cell + pad
            }
            return "| " + padded.joined(separator: " | ") + " |"
        }
        var lines = [title == nil ? separator : top, line(columns.map(\.name)), separator]
        lines += rows.map(line)
        lines.append(separator)
        return lines.joined(separator: "\n")
    }
}
