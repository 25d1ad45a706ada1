import Foundation

/// A JSON merge patch (RFC 7386) for `PATCH /config`, built from `edit-config`'s
/// `--set key.path=value` and `--pg name=value` pairs, or from the difference between the
/// configuration and an edited copy.
public enum ConfigPatch {
    /// The patch that sets every pair, in order (a later pair for the same path wins).
    /// `--set a.b.c=v` sets `{"a":{"b":{"c":v}}}`; `--pg x=v` is `postgresql.parameters.x=v`
    /// (the name may contain dots). Values are YAML scalars: `true`, `30`, `1.5`, `'30'`
    /// (a string), `null` (removes the key); anything else is a string.
    /// Throws `ConfigPatchError` for a pair without `=` or with an empty key.
    public static func from(sets: [String], pg: [String]) throws -> JSONValue {
        var patch: JSONValue = [:]
        for pair in sets {
            let (key, value) = try split(pair, option: "--set")
            let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { throw ConfigPatchError(reason: "invalid --set \(pair): empty key in '\(key)'") }
            patch = set(patch, path[...], try scalar(value, pair: pair))
        }
        for pair in pg {
            let (name, value) = try split(pair, option: "--pg")
            patch = set(patch, ["postgresql", "parameters", name][...], try scalar(value, pair: pair))
        }
        return patch
    }

    /// The merge patch that turns `old` into `new`: changed and added keys with their new
    /// value, removed keys as `null`, nested objects recursively. `old.merged(with: p) == new`
    /// holds for objects that contain no `null` values.
    public static func difference(from old: JSONValue, to new: JSONValue) -> JSONValue {
        guard case .object(let o) = old, case .object(let n) = new else { return new }
        var patch: [String: JSONValue] = [:]
        for (k, _) in o where n[k] == nil { patch[k] = .null }
        for (k, v) in n {
            guard let before = o[k] else { patch[k] = v; continue }
            if before == v { continue }
            if case .object = before, case .object = v {
                patch[k] = difference(from: before, to: v)
            } else {
                patch[k] = v
            }
        }
        return .object(patch)
    }

    /// Whether the patch changes nothing (an empty object).
    public static func isEmpty(_ patch: JSONValue) -> Bool { patch == [:] }

    private static func split(_ pair: String, option: String) throws -> (String, String) {
        guard let eq = pair.firstIndex(of: "=") else {
            throw ConfigPatchError(reason: "invalid \(option) \(pair): expected name=value")
        }
        let key = pair[..<eq].trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else { throw ConfigPatchError(reason: "invalid \(option) \(pair): the name is empty") }
        return (key, String(pair[pair.index(after: eq)...]))
    }

    private static func scalar(_ text: String, pair: String) throws -> JSONValue {
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return .string("") }
        do {
            let v = try JSONValue(yaml: text)
            switch v {
            case .array, .object: return .string(text)
            default: return v
            }
        } catch {
            return .string(text)
        }
    }

    private static func set(_ base: JSONValue, _ path: ArraySlice<String>, _ value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        var o = base.objectValue ?? [:]
        o[first] = set(o[first] ?? [:], path.dropFirst(), value)
        return .object(o)
    }
}

/// A `--set`/`--pg` pair that cannot be used.
public struct ConfigPatchError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { reason }
}
