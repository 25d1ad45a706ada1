#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import HACore
import NIOCore
import Testing
@testable import PGNode

/// A raw TCP client on a non-blocking socket: reads poll and sleep, so no test thread blocks
/// (the server answers on Swift concurrency's pool too).
final class RawClient {
    let fd: Int32
    private(set) var received: [UInt8] = []
    private(set) var closedByPeer = false

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EBADF) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Sends everything (false if the peer is gone).
    @discardableResult
    func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) async -> Bool {
        var offset = 0
        var attempts = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && attempts < 500 {
                attempts += 1
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            return false
        }
        return true
    }

    /// Reads what is available; returns false once the peer closed (or reset).
    private func pump() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += buffer[0..<n]; continue }
            if n == 0 { closedByPeer = true; return false }
            if errno == EAGAIN || errno == EWOULDBLOCK { return true }
            closedByPeer = true
            return false
        }
    }

    /// Waits until `done` holds for what was received, or the peer closed, or `timeout`.
    func wait(timeout: Duration = .seconds(5), until done: ([UInt8]) -> Bool) async {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let open = pump()
            if done(received) || !open { return }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits for the peer to close; true if it did within `timeout`.
    func waitForClose(timeout: Duration = .seconds(5)) async -> Bool {
        await wait(timeout: timeout) { _ in false }
        return closedByPeer
    }

    /// Reads one whole response (by Content-Length) and removes it from the buffer.
    func response(timeout: Duration = .seconds(5), head: Bool = false) async -> HTTPReply? {
        await wait(timeout: timeout) { HTTPReply.parse($0, head: head) != nil }
        guard let (reply, used) = HTTPReply.parse(received, head: head) else { return nil }
        received.removeFirst(used)
        return reply
    }

    var unread: [UInt8] { received }
}

struct HTTPReply {
    var version: String
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// One response from the start of `bytes` and how many bytes it took; nil if incomplete.
    static func parse(_ bytes: [UInt8], head isHead: Bool) -> (HTTPReply, Int)? {
        let marker: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == marker }) else {
            return nil
        }
        let headText = String(decoding: bytes[0..<end], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var reply = HTTPReply(version: String(statusLine[0]), status: status, headers: headers, body: [])
        let bodyStart = end + 4
        let length = isHead ? 0 : Int(reply.header("Content-Length") ?? "0") ?? 0
        guard bytes.count >= bodyStart + length else { return nil }
        reply.body = Array(bytes[bodyStart..<bodyStart + length])
        return (reply, bodyStart + length)
    }
}

@Suite struct RESTServerTests {
    static func settings(timeoutMs: Int = 5_000, maxBody: Int = 2_048) -> RESTSettings {
        var s = RESTSettings()
        s.listenHost = "127.0.0.1"
        s.requestTimeoutMilliseconds = timeoutMs
        s.maxBodyBytes = maxBody
        return s
    }

    /// Runs `body` against a server on an ephemeral port.
    func withServer(_ backend: FakeBackend = FakeBackend(APIFx.primary()), settings: RESTSettings = RESTServerTests.settings(),
                    _ body: (Int) async throws -> Void) async throws {
        let api = RESTAPI(backend: backend, settings: settings, logger: quietLogger)
        let server = try await RESTServer.start(api: api, settings: settings, port: 0, logger: quietLogger)
        let port = try #require(server.localAddress.port)
        #expect(port > 0)
        do {
            try await body(port)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    static let get = "GET /patroni HTTP/1.1\r\nHost: localhost\r\n\r\n"

    @Test func servesAGet() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            await c.send(Self.get)
            let r = try #require(await c.response())
            #expect(r.status == 200)
            #expect(r.header("Content-Type") == "application/json")
            #expect(r.header("Content-Length") == String(r.body.count))
            #expect(r.header("Server")?.hasPrefix("pgha/") == true)
            #expect(JSONValue(parsing: r.body)?["patroni"]?["name"] == "pg1")
        }
    }

    @Test func malformedRequestLineIs400AndTheServerGoesOn() async throws {
        try await withServer { port in
            let bad = try RawClient(port: port)
            await bad.send("THIS IS NOT HTTP\r\n\r\n")
            let r = await bad.response()
            #expect(r?.status == 400)
            #expect(await bad.waitForClose(), "the connection is closed after a protocol error")

            let garbage = try RawClient(port: port)
            await garbage.send([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a])
            #expect(await garbage.waitForClose())

            let good = try RawClient(port: port)
            await good.send(Self.get)
            #expect(await good.response()?.status == 200)
        }
    }

    @Test func headerLineOver8KiBIsRefused() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            let big = String(repeating: "a", count: 9 * 1024)
            await c.send("GET /patroni HTTP/1.1\r\nHost: localhost\r\nX-Big: \(big)\r\n\r\n")
            await c.wait { HTTPReply.parse($0, head: false) != nil }
            if let (r, _) = HTTPReply.parse(c.unread, head: false) {
                #expect(r.status == 400)
            }
            #expect(await c.waitForClose(), "refused: 400 and closed, or closed")

            // A header just under the limit is fine.
            let ok = try RawClient(port: port)
            await ok.send("GET /patroni HTTP/1.1\r\nHost: localhost\r\nX-Big: \(String(repeating: "a", count: 6 * 1024))\r\n\r\n")
            #expect(await ok.response()?.status == 200)
        }
    }

    @Test func tooManyHeaderFieldsAreRefused() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            let fields = (0..<100).map { "X-F\($0): v\r\n" }.joined()
            await c.send("GET /patroni HTTP/1.1\r\nHost: localhost\r\n\(fields)\r\n")
            await c.wait { HTTPReply.parse($0, head: false) != nil }
            if let (r, _) = HTTPReply.parse(c.unread, head: false) { #expect(r.status == 400) }
            #expect(await c.waitForClose())
        }
    }

    @Test func bodyOverMaxBodyBytesIs413() async throws {
        try await withServer(settings: Self.settings(maxBody: 1_024)) { port in
            let c = try RawClient(port: port)
            let body = "{\"ttl\": \"" + String(repeating: "x", count: 2_000) + "\"}"
            await c.send("PATCH /config HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let r = await c.response()
            #expect(r?.status == 413)

            // Chunked, without a length up front.
            let chunked = try RawClient(port: port)
            let chunk = String(repeating: "y", count: 1_500)
            await chunked.send("PATCH /config HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                               + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n")
            #expect(await chunked.response()?.status == 413)

            // Within the limit.
            let small = try RawClient(port: port)
            let ok = #"{"pause": true}"#
            await small.send("PATCH /config HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(ok.utf8.count)\r\n\r\n\(ok)")
            #expect(await small.response()?.status == 200)
        }
    }

    @Test func stalledClientIsDisconnectedAfterTheRequestTimeout() async throws {
        try await withServer(settings: Self.settings(timeoutMs: 300)) { port in
            let c = try RawClient(port: port)
            let started = ContinuousClock.now
            await c.send("GET /patroni HTTP/1.1\r\nHost: loc")
            #expect(await c.waitForClose(timeout: .seconds(5)))
            let elapsed = ContinuousClock.now - started
            #expect(elapsed >= .milliseconds(250), "\(elapsed)")
            #expect(elapsed < .seconds(3), "\(elapsed)")
        }
    }

    @Test func stalledBodyIsDisconnectedAfterTheRequestTimeout() async throws {
        try await withServer(settings: Self.settings(timeoutMs: 300)) { port in
            let c = try RawClient(port: port)
            let started = ContinuousClock.now
            await c.send("PATCH /config HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"pause\"")
            #expect(await c.waitForClose(timeout: .seconds(5)))
            #expect(ContinuousClock.now - started >= .milliseconds(250))
        }
    }

    @Test func idleConnectionIsClosedAndTheTimerRestartsAfterEachResponse() async throws {
        try await withServer(settings: Self.settings(timeoutMs: 300)) { port in
            let idle = try RawClient(port: port)
            #expect(await idle.waitForClose(timeout: .seconds(5)))

            // A request answered before the timeout, then idle: closed one timeout after the answer.
            let c = try RawClient(port: port)
            try await Task.sleep(for: .milliseconds(150))
            await c.send(Self.get)
            #expect(await c.response()?.status == 200)
            try await Task.sleep(for: .milliseconds(150))
            await c.send(Self.get)
            #expect(await c.response()?.status == 200, "the clock restarted after the first answer")
            #expect(await c.waitForClose(timeout: .seconds(5)))
        }
    }

    @Test func slowAnswerIsNotCutByTheRequestTimeout() async throws {
        // An immediate switchover takes longer than request_timeout_ms to answer.
        let backend = FakeBackend(APIFx.primary())
        backend.state.withLockedValue { $0.loop = .carryOut(newPrimary: "pg2", reason: "switchover") }
        try await withServer(backend, settings: Self.settings(timeoutMs: 100)) { port in
            let c = try RawClient(port: port)
            let body = #"{"leader": "pg1", "candidate": "pg2"}"#
            await c.send("POST /switchover HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let r = try #require(await c.response())
            #expect(r.status == 200)
            #expect(r.text == #"Successfully switched over to "pg2""#)
        }
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            await c.send(Self.get)
            #expect(await c.response()?.status == 200)
            await c.send("GET /cluster HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let second = try #require(await c.response())
            #expect(second.status == 200)
            #expect(JSONValue(parsing: second.body)?["members"] != nil)
            #expect(!c.closedByPeer)

            // Pipelined: both sent at once, answered in order.
            let p = try RawClient(port: port)
            await p.send("GET /replica HTTP/1.1\r\nHost: localhost\r\n\r\nGET /primary HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(await p.response()?.status == 503)
            #expect(await p.response()?.status == 200)
        }
    }

    @Test func connectionCloseAndHTTP10CloseAfterTheAnswer() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            await c.send("GET /patroni HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            #expect(await c.response()?.status == 200)
            #expect(await c.waitForClose())
            let old = try RawClient(port: port)
            await old.send("GET /patroni HTTP/1.0\r\n\r\n")
            let r = await old.response()
            #expect(r?.status == 200)
            #expect(r?.version == "HTTP/1.0")
            #expect(await old.waitForClose())
        }
    }

    @Test func headHasContentLengthButNoBody() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            await c.send("HEAD /patroni HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let head = try #require(await c.response(head: true))
            #expect(head.status == 200)
            // HEAD /patroni has no body to describe: the router answers it with none.
            #expect(head.header("Content-Length") != nil)
            // Then a GET on the same connection: the next bytes are its status line, no stray body.
            await c.send(Self.get)
            let get = try #require(await c.response())
            #expect(get.status == 200)
            #expect(!get.body.isEmpty)
            #expect(c.unread.isEmpty)
        }
    }

    @Test func headOnAHealthPathThenClose() async throws {
        try await withServer { port in
            let c = try RawClient(port: port)
            await c.send("HEAD /primary HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            #expect(await c.waitForClose())
            let (r, used) = try #require(HTTPReply.parse(c.unread, head: true))
            #expect(r.status == 200)
            #expect(r.header("Content-Length") != nil)
            #expect(used == c.unread.count, "nothing after the head")
        }
    }

    @Test func optionsPrimaryAnswersLikeGet() async throws {
        try await withServer { port in
            for (path, code) in [("/primary", 200), ("/", 200), ("/replica", 503)] {
                let c = try RawClient(port: port)
                await c.send("OPTIONS \(path) HTTP/1.0\r\n\r\n")  // HAProxy's bare `option httpchk`
                #expect(await c.waitForClose())
                let (r, used) = try #require(HTTPReply.parse(c.unread, head: false), "\(path)")
                #expect(r.status == code, "\(path)")
                #expect(used == c.unread.count)
            }
        }
        try await withServer(FakeBackend(APIFx.replica(), memberName: "pg2")) { port in
            for (path, code) in [("/primary", 503), ("/replica", 200)] {
                let c = try RawClient(port: port)
                await c.send("OPTIONS \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(await c.response()?.status == code, "\(path)")
            }
        }
    }

    @Test func manyConcurrentClients() async throws {
        try await withServer(settings: Self.settings(timeoutMs: 2_000)) { port in
            let results = await withTaskGroup(of: Int?.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        guard let c = try? RawClient(port: port) else { return -1 }
                        switch i % 4 {
                        case 0:
                            await c.send("GARBAGE\r\n\r\n")
                            _ = await c.waitForClose()
                            return nil
                        case 1:
                            await c.send("GET /primary HTTP/1.1\r\nHost: x\r\n")  // stalls; cut by the timeout
                            _ = await c.waitForClose(timeout: .seconds(10))
                            return nil
                        default:
                            await c.send("GET /cluster HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                            return await c.response(timeout: .seconds(10))?.status ?? -2
                        }
                    }
                }
                var codes: [Int?] = []
                for await r in group { codes.append(r) }
                return codes
            }
            let answered = results.compactMap { $0 }
            #expect(answered.count == 32)
            #expect(answered.allSatisfy { $0 == 200 }, "\(answered)")
            let after = try RawClient(port: port)
            await after.send(Self.get)
            #expect(await after.response()?.status == 200, "still serving")
        }
    }

    @Test func serverOnAnEphemeralPortReportsItAndShutsDown() async throws {
        let settings = Self.settings()
        let api = RESTAPI(backend: FakeBackend(APIFx.primary()), settings: settings, logger: quietLogger)
        let server = try await RESTServer.start(api: api, settings: settings, port: 0, logger: quietLogger)
        let port = try #require(server.localAddress.port)
        let c = try RawClient(port: port)
        await server.shutdown()
        #expect(await c.waitForClose())
        #expect(throws: (any Error).self) { _ = try RawClient(port: port) }
    }
}
