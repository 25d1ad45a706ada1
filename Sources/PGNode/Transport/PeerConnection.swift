import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RaftCore

/// The sending side of one peer: one outbound TCP connection, a bounded queue of framed
/// messages, and reconnection with backoff for as long as the transport runs.
///
/// - `enqueue(_:)` may be called from any thread and never blocks on I/O. A message is queued
///   while the queue holds fewer than `maxQueuedMessagesPerPeer` messages and
///   `maxQueuedBytesPerPeer` bytes (one message of any size is accepted into an empty queue);
///   otherwise it is dropped and counted (`messagesDroppedQueueFull`). The queue keeps its
///   messages across reconnects, so a short outage loses nothing that fits.
/// - Once the connection is authenticated the queue drains on the event loop: as many frames
///   as the channel takes before it becomes unwritable (1 MiB high-water mark), then one flush.
///   Many `enqueue` calls between two loop ticks thus cost one wake-up and one flush.
/// - A failed connect, failed handshake or lost connection schedules the next attempt after
///   the backoff (`TransportConfig.Backoff`); a successful handshake resets it.
///
/// All mutable state is behind one lock; channel operations run on `eventLoop`, which also
/// hosts the connection's channel.
final class PeerConnection: Sendable {
    /// The peer this connection sends to.
    let peerID: NodeID
    /// The loop that runs connects, drains and the channel.
    let eventLoop: any EventLoop
    private let config: TransportConfig
    private let counters: TransportCounterBox
    private let logger: Logger
    private let onMessage: @Sendable (Message) -> Void
    private let onPeerLost: @Sendable (NodeID) -> Void
    private let state: NIOLockedValueBox<State>

    private enum Phase {
        /// Not started yet.
        case idle
        case connecting(generation: Int)
        case handshaking(generation: Int, channel: any Channel)
        case ready(generation: Int, channel: any Channel)
        case backingOff(task: Scheduled<Void>?)
        case stopped
    }

    private struct State {
        var address: PeerAddress
        var phase: Phase = .idle
        /// Numbers connection attempts, so that callbacks of an abandoned attempt are ignored.
        var generation = 0
        var backoff: Duration
        var queue = CircularBuffer<ByteBuffer>()
        var queuedBytes = 0
        var drainScheduled = false
        /// A drop was logged since the queue was last empty.
        var dropping = false
        /// "Unreachable" was logged since the last successful connection.
        var reportedUnreachable = false
    }

    init(peerID: NodeID, address: PeerAddress, eventLoop: any EventLoop, config: TransportConfig,
         counters: TransportCounterBox, logger: Logger, onPeerLost: @escaping @Sendable (NodeID) -> Void = { _ in },
         onMessage: @escaping @Sendable (Message) -> Void) {
        self.onPeerLost = onPeerLost
        self.peerID = peerID
        self.eventLoop = eventLoop
        self.config = config
        self.counters = counters
        var logger = logger
        logger[metadataKey: "peer.node"] = "\(peerID.rawValue)"
        self.logger = logger
        self.onMessage = onMessage
        self.state = NIOLockedValueBox(State(address: address, backoff: config.reconnectBackoff.initial))
    }

    // MARK: Public operations (any thread)

    /// Starts connecting; the first call only.
    func start() {
        eventLoop.execute { self.connect(startingFromIdle: true) }
    }

    /// Queues one framed message (length header included), or drops and counts it if the
    /// queue is full or the connection stopped.
    @discardableResult
    func enqueue(_ frame: ByteBuffer) -> Bool {
        enqueue(frames: [frame])
    }

    /// Queues the frames of one message together (all or none: the chunks of a large
    /// message), or drops and counts it as one message.
    @discardableResult
    func enqueue(frames: [ByteBuffer]) -> Bool {
        enum Outcome { case queued(drain: Bool), dropped(firstDrop: Bool), stopped }
        let size = frames.reduce(0) { $0 + $1.readableBytes }
        let limits = (messages: config.maxQueuedMessagesPerPeer, bytes: config.maxQueuedBytesPerPeer)
        let outcome: Outcome = state.withLockedValue { s in
            if case .stopped = s.phase { return .stopped }
            if !s.queue.isEmpty && (s.queue.count >= limits.messages || s.queuedBytes + size > limits.bytes) {
                let first = !s.dropping
                s.dropping = true
                return .dropped(firstDrop: first)
            }
            s.queue.append(contentsOf: frames)
            s.queuedBytes += size
            if case .ready = s.phase, !s.drainScheduled {
                s.drainScheduled = true
                return .queued(drain: true)
            }
            return .queued(drain: false)
        }
        switch outcome {
        case .queued(let drain):
            if drain { eventLoop.execute { self.drain() } }
            return true
        case .dropped(let first):
            counters.update { $0.messagesDroppedQueueFull += 1 }
            if first {
                logger.warning("queue to peer is full; dropping messages until it drains", metadata: [
                    "peer.address": "\(address)",
                    "queue.limit.messages": "\(limits.messages)", "queue.limit.bytes": "\(limits.bytes)",
                ])
            }
            return false
        case .stopped:
            counters.update { $0.messagesDroppedStopped += 1 }
            return false
        }
    }

    /// Points the connection at a new address: an open connection is closed and the next
    /// attempt goes to `address` with the initial backoff.
    func updateAddress(_ address: PeerAddress) {
        enum Next { case unchanged, nothing, close(any Channel), connect }
        let next: Next = state.withLockedValue { s in
            guard s.address != address else { return .unchanged }
            s.address = address
            s.backoff = config.reconnectBackoff.initial
            switch s.phase {
            case .handshaking(_, let channel), .ready(_, let channel):
                return .close(channel)
            case .backingOff(let task):
                task?.cancel()
                s.phase = .backingOff(task: nil)
                return .connect
            case .connecting:
                // Abandon the attempt to the old address: its callbacks no longer match.
                s.generation += 1
                s.phase = .backingOff(task: nil)
                return .connect
            case .idle, .stopped:
                return .nothing
            }
        }
        switch next {
        case .unchanged: return
        case .nothing: break
        case .close(let channel): channel.close(promise: nil)
        case .connect: eventLoop.execute { self.connect(startingFromIdle: false) }
        }
        logger.info("peer address changed", metadata: ["peer.address": "\(address)"])
    }

    /// Stops for good: cancels reconnects, drops the queue (counted as `messagesDroppedStopped`,
    /// or `messagesDroppedUnknownPeer` when the peer was `removed` from the table), and returns
    /// the open channel, if any, for the caller to close.
    func stop(removed: Bool) -> (any Channel)? {
        let (channel, dropped): ((any Channel)?, Int) = state.withLockedValue { s in
            var channel: (any Channel)?
            switch s.phase {
            case .handshaking(_, let c), .ready(_, let c): channel = c
            case .backingOff(let task): task?.cancel()
            case .idle, .connecting, .stopped: break
            }
            s.phase = .stopped
            let dropped = s.queue.count
            s.queue.removeAll()
            s.queuedBytes = 0
            return (channel, dropped)
        }
        if dropped > 0 {
            counters.update {
                if removed { $0.messagesDroppedUnknownPeer += dropped } else { $0.messagesDroppedStopped += dropped }
            }
        }
        return channel
    }

    /// The current queue size.
    var queueDepth: (messages: Int, bytes: Int) {
        state.withLockedValue { ($0.queue.count, $0.queuedBytes) }
    }

    private var address: PeerAddress {
        state.withLockedValue { $0.address }
    }

    // MARK: Connection lifecycle (on eventLoop)

    private func connect(startingFromIdle: Bool) {
        let attempt: (generation: Int, address: PeerAddress)? = state.withLockedValue { s in
            switch s.phase {
            case .idle where startingFromIdle, .backingOff:
                break
            default:
                return nil
            }
            s.generation += 1
            s.phase = .connecting(generation: s.generation)
            return (s.generation, s.address)
        }
        guard let attempt else { return }
        let generation = attempt.generation
        let handshake = Handshake.Configuration(
            clusterName: config.clusterName, localID: config.nodeID, secret: config.secret,
            knownPeers: [peerID], acceptClients: false, expectedPeer: peerID)
        let (maxFrameSize, handshakeTimeout) = (config.maxFrameSize, TimeAmount(config.handshakeTimeout))
        let maxMessageSize = config.maxMessageSize
        let (counters, logger, onMessage) = (self.counters, self.logger, self.onMessage)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(config.connectTimeout))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)  // not .socketOption: that is SOL_SOCKET, i.e. SO_DEBUG
            .channelOption(.writeBufferWaterMark, value: ChannelOptions.Types.WriteBufferWaterMark(low: 256 << 10, high: 1 << 20))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let events = ConnectionEventsHandler(
                        onAuthenticated: { channel, peer in
                            self.authenticated(channel: channel, generation: generation)
                        },
                        onWritable: { self.scheduleDrain() })
                    try TransportPipeline.install(
                        on: channel, handshake: handshake, maxFrameSize: maxFrameSize, maxMessageSize: maxMessageSize,
                        handshakeTimeout: handshakeTimeout, counters: counters, logger: logger,
                        extra: events, onMessage: onMessage)
                }
            }
            .connect(host: attempt.address.host, port: attempt.address.port)
            .whenComplete { result in
                self.connectCompleted(result, generation: generation, address: attempt.address)
            }
    }

    private func connectCompleted(_ result: Result<any Channel, any Error>, generation: Int, address: PeerAddress) {
        switch result {
        case .success(let channel):
            let keep: Bool = state.withLockedValue { s in
                switch s.phase {
                case .connecting(generation):
                    s.phase = .handshaking(generation: generation, channel: channel)
                    return true
                case .handshaking(generation, _), .ready(generation, _):
                    return true
                default:
                    return false
                }
            }
            guard keep else {
                channel.close(promise: nil)
                return
            }
            channel.closeFuture.whenComplete { _ in self.channelClosed(generation: generation) }
        case .failure(let error):
            let report: Bool? = state.withLockedValue { s in
                guard case .connecting(generation) = s.phase else { return nil }
                let first = !s.reportedUnreachable
                s.reportedUnreachable = true
                backOff(&s)
                return first
            }
            guard let report else { return }
            let metadata: Logger.Metadata = ["peer.address": "\(address)", "error": "\(error)"]
            if report {
                logger.info("cannot connect to peer; retrying with backoff", metadata: metadata)
            } else {
                logger.debug("cannot connect to peer", metadata: metadata)
            }
        }
    }

    private func authenticated(channel: any Channel, generation: Int) {
        let (ok, address): (Bool, PeerAddress) = state.withLockedValue { s in
            switch s.phase {
            case .connecting(generation), .handshaking(generation, _):
                s.phase = .ready(generation: generation, channel: channel)
                s.backoff = config.reconnectBackoff.initial
                s.reportedUnreachable = false
                return (true, s.address)
            default:
                return (false, s.address)
            }
        }
        guard ok else { return }
        counters.update { $0.outboundConnects += 1 }
        logger.info("connected to peer", metadata: ["peer.address": "\(address)"])
        scheduleDrain()
    }

    private func channelClosed(generation: Int) {
        let outcome: (wasReady: Bool, address: PeerAddress)? = state.withLockedValue { s in
            let wasReady: Bool
            switch s.phase {
            case .ready(generation, _): wasReady = true
            case .handshaking(generation, _), .connecting(generation): wasReady = false
            default: return nil
            }
            backOff(&s)
            return (wasReady, s.address)
        }
        guard let outcome, outcome.wasReady else { return }
        counters.update { $0.outboundDisconnects += 1 }
        logger.info("lost connection to peer; reconnecting", metadata: ["peer.address": "\(outcome.address)"])
        onPeerLost(peerID)
    }

    /// Schedules the next connect after the current backoff (with jitter) and doubles it.
    /// Called with the lock held; `scheduleTask` does not call back synchronously.
    private func backOff(_ s: inout State) {
        let schedule = config.reconnectBackoff
        let base = s.backoff
        let delay = base * (1 - schedule.jitter * Double.random(in: 0 ..< 1))
        s.backoff = min(base * 2, schedule.maximum)
        let task = eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.connect(startingFromIdle: false)
        }
        s.phase = .backingOff(task: task)
    }

    // MARK: Sending (on eventLoop)

    /// Schedules one drain on the event loop if the connection is ready, the queue is not
    /// empty and no drain is pending.
    func scheduleDrain() {
        let go: Bool = state.withLockedValue { s in
            guard case .ready = s.phase, !s.drainScheduled, !s.queue.isEmpty else { return false }
            s.drainScheduled = true
            return true
        }
        if go { eventLoop.execute { self.drain() } }
    }

    /// Writes queued frames while the channel is writable, then flushes once.
    private func drain() {
        let channel: (any Channel)? = state.withLockedValue { s in
            s.drainScheduled = false
            if case .ready(_, let channel) = s.phase { return channel }
            return nil
        }
        guard let channel else { return }
        var messages = 0
        var bytes = 0
        while channel.isWritable {
            let batch: [ByteBuffer] = state.withLockedValue { s in
                let n = min(s.queue.count, 64)
                var batch: [ByteBuffer] = []
                batch.reserveCapacity(n)
                for _ in 0 ..< n {
                    let frame = s.queue.removeFirst()
                    s.queuedBytes -= frame.readableBytes
                    batch.append(frame)
                }
                if s.queue.isEmpty { s.dropping = false }
                return batch
            }
            if batch.isEmpty { break }
            for frame in batch {
                bytes += frame.readableBytes
                channel.write(frame, promise: nil)
            }
            messages += batch.count
        }
        guard messages > 0 else { return }
        channel.flush()
        counters.update {
            $0.messagesSent += messages
            $0.bytesSent += bytes
        }
    }
}
