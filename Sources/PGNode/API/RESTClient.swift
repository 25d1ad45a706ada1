import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small HTTP/1.1 client for the REST API (pgha's own or Patroni's), on SwiftNIO's client
/// codec and response aggregator, with TLS (NIOSSL) for `https` URLs.
///
/// One request per connection (`Connection: close`), so answers without `Content-Length` (as
/// Patroni sends them) end when the server closes. Every failure is a `RESTClientError` whose
/// description is one line naming the server and the cause.
public enum RESTClient {
    /// An answer: any status (non-2xx ones are not errors here), its headers and body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]

        /// The body as UTF-8 text without surrounding whitespace.
        public var text: String { String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        /// Whether the status is 2xx.
        public var isSuccess: Bool { (200..<300).contains(status) }
    }

    /// The largest body accepted (the API's documents are far smaller).
    static let maxBodyBytes = 16 * 1024 * 1024

    /// Sends one request to `url` (`http://host:port/path?query` or `https://…`) and waits for
    /// the whole answer, at most `timeout` from the first connection attempt to the last byte.
    ///
    /// A body is sent as `application/json` with `Content-Length`; unsafe methods always carry
    /// a `Content-Length` (0 without a body), as Patroni requires. Basic authentication is
    /// sent when both `username` and `password` are given. With `insecure`, an https server's
    /// certificate is not verified; `caFile` adds trusted roots (PEM).
    public static func request(method: HTTPMethod = .GET, url: String, body: [UInt8]? = nil,
                               username: String? = nil, password: String? = nil,
                               timeout: Duration = .seconds(10), insecure: Bool = false,
                               caFile: String? = nil) async throws -> Response {
        let target = try Target(url)
        let tls: NIOSSLContext?
        if target.secure {
            do {
                var config = TLSConfiguration.makeClientConfiguration()
                if insecure { config.certificateVerification = .none }
                if let caFile { config.trustRoots = .file(caFile) }
                tls = try NIOSSLContext(configuration: config)
            } catch {
                throw RESTClientError(target: target.origin, reason: "TLS setup failed: \(error)")
            }
        } else {
            tls = nil
        }
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = eventLoop.makePromise(of: NIOHTTPClientResponseFull.self)
        let nanos = Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let limit = TimeAmount.nanoseconds(max(1, nanos))
        let sniName = target.isIPAddress ? nil : target.host
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(limit)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let tls { try ops.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sniName)) }
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(NIOHTTPClientResponseAggregator(maxContentLength: maxBodyBytes))
                    try ops.addHandler(ResponseCollector(promise: promise))
                }
            }
        let timer = eventLoop.scheduleTask(in: limit) {
            promise.fail(RESTClientError(target: target.origin, reason: "no answer within \(Self.seconds(timeout))"))
        }
        defer { timer.cancel() }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: target.host, port: target.port).get()
        } catch {
            promise.fail(error)
            throw RESTClientError(target: target.origin, reason: Self.describe(error, timeout: timeout))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.hostHeader)
        headers.add(name: "User-Agent", value: "pgha/\(StatusDocuments.version)")
        headers.add(name: "Accept", value: "application/json, text/plain, */*")
        headers.add(name: "Connection", value: "close")
        if let username, let password {
            headers.add(name: "Authorization", value: "Basic " + Data("\(username):\(password)".utf8).base64EncodedString())
        }
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.count))
        } else if ![.GET, .HEAD, .OPTIONS].contains(method) {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: target.pathAndQuery, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body, !body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let full: NIOHTTPClientResponseFull
        do {
            full = try await promise.futureResult.get()
        } catch {
            channel.close(promise: nil)
            if let e = error as? RESTClientError { throw e }
            throw RESTClientError(target: target.origin, reason: Self.describe(error, timeout: timeout))
        }
        channel.close(promise: nil)
        return Response(status: Int(full.head.status.code), headers: full.head.headers,
                        body: full.body.map { Array($0.readableBytesView) } ?? [])
    }

    /// One line for an error of NIO, the system or TLS.
    static func describe(_ error: any Error, timeout: Duration) -> String {
        switch error {
        case let e as RESTClientError:
            return e.reason
        case let e as NIOConnectionError:
            if e.dnsAError != nil || e.dnsAAAAError != nil, e.connectionErrors.isEmpty { return "cannot resolve host \(e.host)" }
            if let first = e.connectionErrors.first { return describe(first.error, timeout: timeout) }
            return "cannot connect"
        case let e as IOError:
            return String(cString: strerror(e.errnoCode)).lowercased()
        case ChannelError.connectTimeout:
            return "no connection within \(seconds(timeout))"
        case ChannelError.ioOnClosedChannel, ChannelError.eof, ChannelError.alreadyClosed:
            return "the connection was closed before an answer"
        case let e as NIOSSLError:
            return "TLS: \(e) (--insecure skips certificate verification)"
        case let e as BoringSSLError:
            return "TLS: \(e) (--insecure skips certificate verification)"
        case let e as HTTPParserError:
            return "not an HTTP answer (\(e))"
        case is NIOTooManyBytesError:
            return "the answer is larger than \(maxBodyBytes) bytes"
        default:
            return "\(error)"
        }
    }

    static func seconds(_ d: Duration) -> String {
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }

    /// The parts of a URL the client needs.
    struct Target {
        var secure: Bool
        var host: String
        var port: Int
        var pathAndQuery: String

        init(_ url: String) throws {
            guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  let host = c.host, !host.isEmpty else {
                throw RESTClientError(target: url, reason: "not an http:// or https:// URL")
            }
            secure = scheme == "https"
            self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            port = c.port ?? (secure ? 443 : 80)
            let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
            pathAndQuery = path + (c.percentEncodedQuery.map { "?" + $0 } ?? "")
        }

        var isIPAddress: Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }
        var hostHeader: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        /// `http://host:port`, for messages.
        var origin: String { "\(secure ? "https" : "http")://\(hostHeader)" }
    }
}

/// Why a request to the REST API got no answer; `description` is
/// `cannot reach http://127.0.0.1:8008: connection refused`.
public struct RESTClientError: Error, CustomStringConvertible, Sendable {
    /// The server, as `scheme://host:port` (or the URL that could not be used).
    public var target: String
    /// The cause, lower case, one line.
    public var reason: String
    public var description: String { "cannot reach \(target): \(reason)" }
}

/// Completes the promise with the first aggregated response (or the first error, or the
/// connection closing first).
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = NIOHTTPClientResponseFull
    private let promise: EventLoopPromise<NIOHTTPClientResponseFull>
    private var done = false

    init(promise: EventLoopPromise<NIOHTTPClientResponseFull>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        done = true
        promise.succeed(unwrapInboundIn(data))
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }
}
