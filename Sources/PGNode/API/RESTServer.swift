import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The REST API's HTTP/1.1 server (SwiftNIO's codec), on an event loop of its own so that no
/// request, however slow or malformed, can delay the Raft loop or the lease fence.
///
/// Per connection: TLS when configured; the HTTP codec with bounded heads (8 KiB per header
/// line, 32 KiB in all, 64 fields; larger ones get 400); bodies up to `max_body_bytes` (larger
/// ones get 413); a client must send each whole request within `request_timeout_ms`.
public final class RESTServer: Sendable {
    /// Where it listens (the port is the real one when 0 was asked for).
    public let localAddress: SocketAddress
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, localAddress: SocketAddress) {
        self.channel = channel
        self.group = group
        self.localAddress = localAddress
    }

    /// Binds `settings.listenHost:listenPort` (or `port` when given) and serves `api`.
    public static func start(api: RESTAPI, settings: RESTSettings, port: Int? = nil, logger: Logger) async throws -> RESTServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var tls: NIOSSLContext?
        do {
            if let cert = settings.certificateFile, let key = settings.keyFile {
                let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
                tls = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .file(key)))
            }
        } catch {
            try? await group.shutdownGracefully()
            throw StartRefused(reason: "restapi TLS: cannot load certfile/keyfile: \(error)")
        }
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 8 * 1024
        limits.maxHeaderListSize = 32 * 1024
        limits.maxHeaderFieldCount = 64
        let timeout = TimeAmount.milliseconds(Int64(settings.requestTimeoutMilliseconds))
        let maxBody = settings.maxBodyBytes
        let tlsContext = tls
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if let tlsContext { try ops.addHandler(NIOSSLServerHandler(context: tlsContext)) }
                    try ops.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true,
                                                        withOutboundHeaderValidation: true, withEncoderConfiguration: .init(),
                                                        withDecoderLimitConfiguration: limits)
                    try ops.addHandler(RequestDeadlineHandler(timeout: timeout, logger: logger))
                    try ops.addHandler(NIOHTTPServerRequestAggregator(maxContentLength: maxBody))
                    try ops.addHandler(RESTChannelHandler(api: api, logger: logger))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: settings.listenHost, port: port ?? settings.listenPort).get()
        } catch {
            try? await group.shutdownGracefully()
            throw StartRefused(reason: "restapi.listen \(settings.listenHost):\(port ?? settings.listenPort) cannot be bound: \(error)")
        }
        let address = channel.localAddress ?? (try! SocketAddress(ipAddress: "0.0.0.0", port: 0))
        logger.info("REST API listening", metadata: ["restapi.address": "\(address)", "restapi.tls": "\(tlsContext != nil)"])
        return RESTServer(channel: channel, group: group, localAddress: address)
    }

    /// Stops listening and closes every connection.
    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}
