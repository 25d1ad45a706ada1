import NIOCore
import NIOHTTP1

/// One HTTP request as the API's router sees it (already size-checked by the server).
public struct RESTRequest: Sendable {
    public var method: HTTPMethod
    /// The path without the query.
    public var path: String
    /// The query's parameters (the first value of each).
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The client's address (nil in tests that do not say).
    public var remote: SocketAddress?

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], remote: SocketAddress? = nil) {
        self.method = method
        self.headers = headers
        self.body = body
        self.remote = remote
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var path = parts.first.map(String.init) ?? "/"
        if path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path.removingPercentEncoding ?? path
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[0])
                let value = kv.count == 2 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
                if query[key] == nil { query[key] = value }
            }
        }
        self.query = query
    }
}

/// One HTTP response. Also thrown (as an `Error`) by request-parsing steps that answer early.
public struct RESTResponse: Sendable, Error {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON document.
    public static func json(_ status: HTTPResponseStatus, _ value: JSONValue) -> RESTResponse {
        RESTResponse(status: status, headers: ["Content-Type": "application/json"], body: value.bytes)
    }

    /// A line of plain text (Patroni's action answers).
    public static func text(_ status: HTTPResponseStatus, _ text: String) -> RESTResponse {
        RESTResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }
}

import Foundation
