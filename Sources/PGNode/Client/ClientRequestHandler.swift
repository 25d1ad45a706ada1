import Logging
import NIOCore
import RaftCore

/// Decodes client requests after the handshake, runs them against the runtime and writes the
/// answers, with at most `maxInFlight` requests in flight on the connection.
///
/// A request is in flight from when it is decoded until its answer is written to the socket.
/// At the bound the handler stops reading from the socket (it holds the channel's `read`), so
/// a client that pipelines more requests waits in TCP flow control instead of growing the
/// server's memory; reading resumes as answers drain. The few requests decoded from the last
/// read beyond the bound wait in a queue bounded by one read's bytes. A client that does not
/// read its answers stops the server reading its requests the same way.
final class ClientRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: RaftRuntime
    private let memberStatus: MemberStatusSource?
    private let logger: Logger
    private let maxInFlight: Int
    private let counters: ClientRequestCounterBox
    private let refusalLog: LogRateLimiter
    private var inFlight = 0
    /// Decoded, not yet started (only while at the bound).
    private var waiting = CircularBuffer<ClientRequest>()
    /// A `read` arrived while at the bound and was not passed on.
    private var readHeld = false
    private var removed = false

    init(runtime: RaftRuntime, memberStatus: MemberStatusSource?, maxInFlight: Int, counters: ClientRequestCounterBox,
         refusalLog: LogRateLimiter, logger: Logger) {
        precondition(maxInFlight > 0, "ClientRequestHandler: maxInFlight must be positive")
        self.runtime = runtime
        self.memberStatus = memberStatus
        self.maxInFlight = maxInFlight
        self.counters = counters
        self.refusalLog = refusalLog
        self.logger = logger
    }

    private var atBound: Bool { inFlight + waiting.count >= maxInFlight }

    func read(context: ChannelHandlerContext) {
        if atBound {
            if !readHeld { counters.readPaused() }
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = Self.unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let request: ClientRequest
        do {
            request = try ClientCodec.decodeRequest(bytes)
        } catch {
            let address = context.channel.remoteAddress.map { "\($0)" } ?? "?"
            logger.connectionClosed(address: address, node: Handshake.clientID, reason: "malformedRequest",
                                    detail: "malformed client request (\(bytes.count) bytes): \(error)", limiter: refusalLog)
            context.close(promise: nil)
            return
        }
        if inFlight < maxInFlight {
            start(request, context: context)
        } else {
            waiting.append(request)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        waiting.removeAll()
    }

    private func start(_ request: ClientRequest, context: ChannelHandlerContext) {
        inFlight += 1
        counters.started(onConnection: inFlight)
        let runtime = self.runtime, memberStatus = self.memberStatus
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let outcome: ClientResponse.Outcome
            if case .memberStatus = request.operation, let memberStatus {
                outcome = await memberStatus().map { .memberStatus($0) } ?? .failed(.unavailable("the agent has no status yet"))
            } else {
                outcome = await runtime.serve(request.operation)
            }
            let response = ClientResponse(id: request.id, outcome: outcome)
            let frame = ByteBuffer(bytes: Handshake.framed(ClientCodec.encode(response)))
            loop.execute { bound.value.handler.answer(frame, context: bound.value.context) }
        }
    }

    private func answer(_ frame: ByteBuffer, context: ChannelHandlerContext) {
        guard !removed else {
            finished(answered: false, context: context)
            return
        }
        context.writeAndFlush(Self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { result in
            if case .success = result { self.finished(answered: true, context: context) } else {
                self.finished(answered: false, context: context)
            }
        }
    }

    /// One request's answer was written (or could not be): start waiting ones, resume reading.
    private func finished(answered: Bool, context: ChannelHandlerContext) {
        inFlight -= 1
        counters.finished(answered: answered)
        guard !removed else { return }
        while inFlight < maxInFlight, let next = waiting.popFirst() {
            start(next, context: context)
        }
        if readHeld && !atBound {
            readHeld = false
            context.read()
        }
    }
}
