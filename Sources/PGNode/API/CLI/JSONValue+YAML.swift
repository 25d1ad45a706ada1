import Foundation
import Yams

extension JSONValue {
    /// Parses a YAML document (or a single YAML scalar such as `true`, `30`, `null`, `on`)
    /// into a JSON value. Timestamps stay strings; keys must be strings.
    /// Throws `YAMLValueError` on invalid YAML or a value JSON cannot hold.
    public init(yaml text: String) throws {
        let any: Any?
        do { any = try Yams.load(yaml: text, Resolver.default.removing(.timestamp)) } catch {
            throw YAMLValueError(reason: "not valid YAML: \(error)")
        }
        self = try Self.fromYAML(any)
    }

    /// A value Yams loaded (`[String: Any]`, arrays, scalars) as a JSON value.
    public init(yamlValue value: Any?) throws { self = try Self.fromYAML(value) }

    private static func fromYAML(_ value: Any?) throws -> JSONValue {
        switch value {
        case nil, is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(Int64(i))
        case let d as Double: return d.isFinite ? .double(d) : .string(String(d))
        case let s as String: return .string(s)
        case let a as [Any]: return .array(try a.map(fromYAML))
        case let m as [String: Any]: return .object(try m.mapValues(fromYAML))
        case let m as [AnyHashable: Any]:
            var o: [String: JSONValue] = [:]
            for (k, v) in m {
                guard let key = k.base as? String else { throw YAMLValueError(reason: "mapping key \(k) is not a string") }
                o[key] = try fromYAML(v)
            }
            return .object(o)
        case let data as Data: return .string(data.base64EncodedString())
        default: throw YAMLValueError(reason: "unsupported YAML value \(String(describing: value!))")
        }
    }

    /// The value as a YAML document with sorted keys in block style (what `show-config`
    /// prints and `edit-config` edits); strings that would read back as another type are quoted.
    public var yamlText: String {
        if case .object(let o) = self, o.isEmpty { return "{}\n" }
        return (try? Yams.dump(object: yamlObject, width: -1, allowUnicode: true, sortKeys: true)) ?? "\(self)\n"
    }

    private var yamlObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return Int(i)
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(\.yamlObject)
        case .object(let o): return o.mapValues(\.yamlObject)
        }
    }

    /// Plain values as text (strings unquoted), anything else as compact JSON.
    public var displayText: String {
        switch self {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return s
        case .array, .object: return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The integer value (also of a double that is whole).
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded(): return Int64(exactly: d)
        default: return nil
        }
    }

    /// The Boolean value.
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }

    /// Pretty-printed JSON (sorted keys, two-space indent), for `--format json`.
    public var prettyJSON: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// A YAML text that cannot become a JSON value.
public struct YAMLValueError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { reason }
}
