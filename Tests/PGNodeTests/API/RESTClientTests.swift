import Foundation
import HACore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import PGNode

/// `RESTClient` against pgha's own `RESTServer` (with a fake backend) and against tiny raw
/// NIO servers that answer like Patroni (no Content-Length) or not at all.
@Suite struct RESTClientTests {
    @Test func getAnswersNon2xxWithoutThrowing() async throws {
        try await withServer { base in
            let r = try await RESTClient.request(url: base + "/patroni")
            #expect(r.status == 503)
            #expect(r.text == "the agent has not completed a cycle yet")
            let health = try await RESTClient.request(method: .OPTIONS, url: base + "/primary")
            #expect(health.status == 503)
            #expect(health.body.isEmpty)
        }
    }

    @Test func unsafeRequestsCarryBasicAuthAndBody() async throws {
        try await withServer { base in
            let none = try await RESTClient.request(method: .PATCH, url: base + "/config", body: Array(#"{"ttl":30}"#.utf8))
            #expect(none.status == 401)
            #expect(none.text == "no auth header received")
            let wrong = try await RESTClient.request(method: .PATCH, url: base + "/config", body: Array(#"{"ttl":30}"#.utf8),
                                                     username: "admin", password: "nope")
            #expect(wrong.status == 401)
            #expect(wrong.text == "not authenticated")
            let ok = try await RESTClient.request(method: .PATCH, url: base + "/config", body: Array(#"{"pause":true,"x":{"y":1}}"#.utf8),
                                                  username: "admin", password: "secret")
            #expect(ok.status == 200)
            let doc = try #require(JSONValue(parsing: ok.body))
            #expect(doc["pause"] == true)
            #expect(doc["x"]?["y"] == 1)
            // A POST without a body still sends Content-Length: 0 and gets the API's answer.
            let reload = try await RESTClient.request(method: .POST, url: base + "/reload", username: "admin", password: "secret")
            #expect(reload.status == 202)
            #expect(reload.text == "reload scheduled")
        }
    }

    @Test func refusedConnectionIsOneClearLine() async throws {
        let port = try await unusedPort()
        let error = await #expect(throws: RESTClientError.self) {
            _ = try await RESTClient.request(url: "http://127.0.0.1:\(port)/cluster", timeout: .seconds(5))
        }
        #expect(error?.description == "cannot reach http://127.0.0.1:\(port): connection refused")
    }

    @Test func silentServerTimesOut() async throws {
        try await withRawServer(answer: nil) { base, port in
            let start = ContinuousClock.now
            let error = await #expect(throws: RESTClientError.self) {
                _ = try await RESTClient.request(url: base + "/cluster", timeout: .milliseconds(300))
            }
            #expect(error?.description == "cannot reach http://127.0.0.1:\(port): no answer within 0.3 s")
            #expect(ContinuousClock.now - start < .seconds(3))
        }
    }

    @Test func bodyEndingAtCloseIsRead() async throws {
        // Patroni's HTTP/1.0 answers have no Content-Length: the body ends when the connection does.
        let raw = "HTTP/1.0 202 Accepted\r\nContent-Type: text/html\r\n\r\nSwitchover scheduled"
        try await withRawServer(answer: raw) { base, _ in
            let r = try await RESTClient.request(method: .POST, url: base + "/switchover", body: Array("{}".utf8))
            #expect(r.status == 202)
            #expect(r.text == "Switchover scheduled")
            #expect(r.headers.first(name: "Content-Type") == "text/html")
        }
    }

    @Test func badURLIsRefused() async throws {
        let error = await #expect(throws: RESTClientError.self) { _ = try await RESTClient.request(url: "ftp://x/y") }
        #expect(error?.description == "cannot reach ftp://x/y: not an http:// or https:// URL")
    }

    /// TLS with a certificate made by `openssl` (skipped with the reason when it is missing).
    @Test(.enabled(if: opensslPath != nil, "openssl is not installed (apt-get install openssl)"))
    func httpsWithSelfSignedCertificate() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgha-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                             "-keyout", "\(dir)/key.pem", "-out", "\(dir)/cert.pem"]
        openssl.standardError = FileHandle.nullDevice
        openssl.standardOutput = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        var settings = Self.settings
        settings.certificateFile = "\(dir)/cert.pem"
        settings.keyFile = "\(dir)/key.pem"
        try await withServer(settings) { base in
            #expect(base.hasPrefix("https://"))
            let r = try await RESTClient.request(url: base + "/patroni", insecure: true)
            #expect(r.status == 503)
            let error = await #expect(throws: RESTClientError.self) { _ = try await RESTClient.request(url: base + "/patroni") }
            #expect(error?.reason.hasPrefix("TLS: ") == true)
            let trusted = try await RESTClient.request(url: base.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/patroni",
                                                       caFile: "\(dir)/cert.pem")
            #expect(trusted.status == 503)
        }
    }

    // MARK: Servers

    static var settings: RESTSettings {
        var s = RESTSettings()
        s.listenPort = 0
        s.username = "admin"
        s.password = "secret"
        return s
    }

    private func withServer(_ settings: RESTSettings = Self.settings, _ body: (String) async throws -> Void) async throws {
        var logger = Logger(label: "test.rest")
        logger.logLevel = .critical
        let api = RESTAPI(backend: StubRESTBackend(), settings: settings, logger: logger)
        let server = try await RESTServer.start(api: api, settings: settings, logger: logger)
        do {
            try await body("\(settings.usesTLS ? "https" : "http")://127.0.0.1:\(server.localAddress.port!)")
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    /// A server that writes `answer` (raw bytes) after the first read and closes, or never answers.
    private func withRawServer(answer: String?, _ body: (String, Int) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(RawAnswer(answer: answer)) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        do { try await body("http://127.0.0.1:\(port)", port) } catch {
            try? await channel.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    private func unusedPort() async throws -> Int {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        try await group.shutdownGracefully()
        return port
    }
}

private final class RawAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let answer: String?
    var answered = false
    init(answer: String?) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let answer, !answered else { return }
        answered = true
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(ByteBuffer(string: answer))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

/// A backend with no snapshot and an in-memory store.
private struct StubRESTBackend: RESTBackend {
    let store = NIOLockedValueBox<[ClusterKey: VersionedValue]>([:])
    var clusterName: String { "demo" }
    var memberName: String { "pg1" }
    func snapshot() -> AgentSnapshot? { nil }
    func leaseValid() -> Bool { false }
    func read(_ key: ClusterKey) async throws -> VersionedValue? { store.withLockedValue { $0[key] } }
    func write(_ key: ClusterKey, _ value: [UInt8], expectedRevision: UInt64?) async throws {
        store.withLockedValue { s in
            let rev = (s.values.map(\.modRevision).max() ?? 0) + 1
            s[key] = VersionedValue(value: value, createRevision: s[key]?.createRevision ?? rev, modRevision: rev, version: (s[key]?.version ?? 0) + 1)
        }
    }
    func delete(_ key: ClusterKey, expectedRevision: UInt64?) async throws { store.withLockedValue { $0[key] = nil } }
    func perform(_ operation: LocalOperation) async -> LocalOperationResult { LocalOperationResult(done: true, message: "done") }
    func metricsText() -> String { "" }
    func memberHosts() -> [String] { [] }
}

/// The `openssl` binary, if installed.
let opensslPath: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
