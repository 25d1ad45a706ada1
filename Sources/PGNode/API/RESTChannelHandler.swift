import Logging
import NIOCore
import NIOHTTP1

/// Answers each whole request (from `NIOHTTPServerRequestAggregator`) with the `RESTAPI`'s
/// response, on the connection's event loop; `HEAD` gets the headers without the body.
/// Protocol errors (malformed requests, oversize heads or bodies) are logged; the codec's own
/// handlers have already answered them with 400 or 413.
final class RESTChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    private let api: RESTAPI
    private let logger: Logger

    init(api: RESTAPI, logger: Logger) {
        self.api = api
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let full = Self.unwrapInboundIn(data)
        let request = RESTRequest(method: full.head.method, uri: full.head.uri, headers: full.head.headers,
                                  body: full.body.map { Array(buffer: $0) } ?? [], remote: context.channel.remoteAddress)
        let keepAlive = full.head.isKeepAlive, version = full.head.version, isHead = full.head.method == .HEAD
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let api = self.api
        let promise = context.eventLoop.makePromise(of: RESTResponse.self)
        promise.completeWithTask { await api.respond(to: request) }
        promise.futureResult.whenSuccess { response in
            let (handler, context) = bound.value
            handler.write(response, version: version, keepAlive: keepAlive, omitBody: isHead, context)
        }
    }

    private func write(_ response: RESTResponse, version: HTTPVersion, keepAlive: Bool, omitBody: Bool, _ context: ChannelHandlerContext) {
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        headers.replaceOrAdd(name: "Server", value: "pgha/\(StatusDocuments.version)")
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        if !omitBody && !response.body.isEmpty {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let done = context.writeAndFlushPromise(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("bad REST request; the connection is closed", metadata: [
            "client": "\(context.channel.remoteAddress.map { "\($0)" } ?? "-")", "error": "\(error)"])
        context.close(promise: nil)
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise(_ data: NIOAny) -> EventLoopFuture<Void> {
        let p = eventLoop.makePromise(of: Void.self)
        writeAndFlush(data, promise: p)
        return p.futureResult
    }
}
