import Testing
@testable import PGNode

@Suite struct JSONValueTests {
    func json(_ text: String) -> JSONValue? { JSONValue(parsing: Array(text.utf8)) }

    /// RFC 7386, Appendix A (every example), plus a few of pgha's own.
    static let mergePatchCases: [(String, String, String)] = [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        // Beyond the RFC's table.
        (#"{"a":1}"#, #"{}"#, #"{"a":1}"#),
        (#"{"a":{"b":{"c":1,"d":2}}}"#, #"{"a":{"b":{"c":null}}}"#, #"{"a":{"b":{"d":2}}}"#),
        (#"{"a":1}"#, #"{"a":{"b":null}}"#, #"{"a":{}}"#),
        (#""x""#, #"{"a":1}"#, #"{"a":1}"#),
        (#"{"a":true}"#, #"{"a":false}"#, #"{"a":false}"#),
        (#"{"a":1}"#, #"{"a":1.5}"#, #"{"a":1.5}"#),
    ]

    @Test(arguments: mergePatchCases)
    func mergePatch(target: String, patch: String, result: String) throws {
        let t = try #require(json(target)), p = try #require(json(patch)), r = try #require(json(result))
        #expect(t.merged(with: p) == r, "\(target) + \(patch)")
    }

    @Test func parsesScalarsWithTheirTypes() {
        #expect(json("1") == .int(1))
        #expect(json("0") == .int(0), "0 is a number, not false")
        #expect(json("-7") == .int(-7))
        #expect(json("9223372036854775807") == .int(.max))
        #expect(json("true") == .bool(true))
        #expect(json("false") == .bool(false))
        #expect(json("1.5") == .double(1.5))
        #expect(json("null") == .null)
        #expect(json(#""s""#) == .string("s"))
        #expect(json(#""1""#) == .string("1"))
        #expect(json(#"{"a":[1,"x",null,{"b":false}]}"#) == ["a": [1, "x", nil, ["b": false]]])
    }

    @Test(arguments: ["", "{", "[1,", "{a:1}", "nul", "{'a':1}", "\u{0}"])
    func invalidJSONIsNil(text: String) {
        #expect(json(text) == nil)
    }

    @Test func bytesAreCompactWithSortedKeys() {
        let v: JSONValue = ["b": 1, "a": ["url": "http://x/y"], "c": [true, nil, .double(1.5)]]
        #expect(String(decoding: v.bytes, as: UTF8.self) == #"{"a":{"url":"http://x/y"},"b":1,"c":[true,null,1.5]}"#)
        #expect(JSONValue(parsing: v.bytes) == v)
    }

    @Test func encodingACodable() {
        struct S: Encodable { var x = 1; var y: String? = nil; var z = [true] }
        #expect(JSONValue(encoding: S()) == ["x": 1, "z": [true]])
    }

    @Test func accessors() {
        let v: JSONValue = ["a": "b", "n": 1]
        #expect(v["a"]?.stringValue == "b")
        #expect(v["n"]?.stringValue == nil)
        #expect(v["missing"] == nil)
        #expect(JSONValue.string("x")["a"] == nil)
        #expect(v.objectValue?.count == 2)
        #expect(JSONValue.array([]).objectValue == nil)
    }
}
