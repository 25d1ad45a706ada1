/// A PostgreSQL write-ahead-log position (`pg_lsn`): a byte offset into the WAL stream,
/// printed by Postgres as two hex halves, `16/B374D848`.
public struct LSN: RawRepresentable, Comparable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    public static let zero = LSN(0)

    /// Parses Postgres' text form (`hi/lo`, both hex); nil if malformed.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[0].count <= 8, parts[1].count <= 8,
              let hi = UInt64(parts[0], radix: 16), let lo = UInt64(parts[1], radix: 16) else { return nil }
        rawValue = hi << 32 | lo
    }

    /// Postgres' text form, for example `0/3000060`.
    public var description: String {
        String(rawValue >> 32, radix: 16, uppercase: true) + "/" + String(rawValue & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    public static func < (a: LSN, b: LSN) -> Bool { a.rawValue < b.rawValue }

    /// Bytes from `other` up to `self` (zero if `other` is ahead).
    public func bytes(after other: LSN) -> UInt64 { rawValue > other.rawValue ? rawValue - other.rawValue : 0 }

    // Stored as the text form, as Patroni does.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let lsn = LSN(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an LSN: \(text)"))
        }
        self = lsn
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
