import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
@testable import PGNode
import RaftCore

/// Messages a transport delivered, in order.
final class TransportInbox: Sendable {
    private let box = NIOLockedValueBox<[Message]>([])
    func append(_ m: Message) { box.withLockedValue { $0.append(m) } }
    var messages: [Message] { box.withLockedValue { $0 } }
    var count: Int { box.withLockedValue { $0.count } }
}

/// A swift-log handler that keeps every record, so tests can check what was logged.
struct TransportLogCapture: LogHandler {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    final class Store: Sendable {
        private let box = NIOLockedValueBox<[Record]>([])
        func append(_ r: Record) { box.withLockedValue { $0.append(r) } }
        var records: [Record] { box.withLockedValue { $0 } }
        var warnings: [Record] { records.filter { $0.level == .warning } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        for (k, v) in event.metadata ?? [:] { all[k] = v }
        store.append(Record(level: event.level, message: "\(event.message)",
                            metadata: all.mapValues { "\($0)" }))
    }
}

let transportTestSecret: [UInt8] = Array("correct horse battery staple 123".utf8)

/// A test node: a transport, its inbox and its log.
final class TransportTestNode: Sendable {
    let id: NodeID
    let transport: PeerTransport
    let inbox = TransportInbox()
    let logs = TransportLogCapture.Store()

    init(id: NodeID, group: any EventLoopGroup, configure: (inout TransportConfig) -> Void = { _ in }) {
        self.id = id
        var config = TransportConfig(clusterName: "test-cluster", nodeID: id, secret: transportTestSecret,
                                     listenHost: "127.0.0.1", listenPort: 0)
        config.reconnectBackoff = .init(initial: .milliseconds(20), maximum: .milliseconds(200))
        configure(&config)
        let logs = self.logs
        let logger = Logger(label: "transport.n\(id.rawValue)") { _ in TransportLogCapture(store: logs) }
        let inbox = self.inbox
        transport = PeerTransport(config: config, group: group, logger: logger) { inbox.append($0) }
    }

    var port: Int { transport.listeningPort! }
    var address: PeerAddress { PeerAddress(host: "127.0.0.1", port: port) }
    var counters: TransportCounters { transport.counters }
}

/// Runs `body` with a fresh 2-thread event loop group and a list of nodes to clean up;
/// every node is shut down and the group is shut down even when `body` throws.
func withTransportTest(_ body: (any EventLoopGroup, TransportTestNodes) async throws -> Void) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let nodes = TransportTestNodes()
    do {
        try await body(group, nodes)
    } catch {
        await nodes.shutdownAll()
        try? await group.shutdownGracefully()
        throw error
    }
    await nodes.shutdownAll()
    try await group.shutdownGracefully()
}

/// The nodes a test created, for cleanup.
final class TransportTestNodes: Sendable {
    private let box = NIOLockedValueBox<[TransportTestNode]>([])

    /// Creates a node and starts it.
    func start(_ id: NodeID, group: any EventLoopGroup, configure: (inout TransportConfig) -> Void = { _ in }) async throws -> TransportTestNode {
        let node = TransportTestNode(id: id, group: group, configure: configure)
        box.withLockedValue { $0.append(node) }
        try await node.transport.start()
        return node
    }

    /// Tells every node where every other node listens.
    func connectAll(_ nodes: [TransportTestNode]) {
        let table = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0.address) })
        for node in nodes { node.transport.updatePeers(table) }
    }

    func shutdownAll() async {
        for node in box.withLockedValue({ $0 }) { await node.transport.shutdown() }
    }
}

/// Polls `condition` every 5 ms until it holds or `timeout` passes; returns its last value.
func transportEventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// An append message with one entry of `size` data bytes; `seq` makes it unique.
func transportAppend(from: NodeID, to: NodeID, seq: UInt64, size: Int = 128) -> Message {
    let data = (0 ..< size).map { UInt8(truncatingIfNeeded: $0 &+ Int(seq)) }
    return Message(from: from, to: to, term: Term(7),
                   body: .append(AppendRequest(prevLogIndex: LogIndex(seq), prevLogTerm: Term(7),
                                               entries: [Entry(term: Term(7), index: LogIndex(seq + 1), data: data)],
                                               commit: LogIndex(seq))))
}

/// A bare TCP client that sends whatever a test wants and records what comes back.
final class TransportRawClient: Sendable {
    let channel: any Channel
    private let received: NIOLockedValueBox<[UInt8]>

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[UInt8]>
        init(_ received: NIOLockedValueBox<[UInt8]>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = Self.unwrapInboundIn(data)
            received.withLockedValue { $0 += buffer.readableBytesView }
        }
    }

    private init(channel: any Channel, received: NIOLockedValueBox<[UInt8]>) {
        self.channel = channel
        self.received = received
    }

    static func connect(group: any EventLoopGroup, port: Int) async throws -> TransportRawClient {
        let received = NIOLockedValueBox<[UInt8]>([])
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TransportRawClient(channel: channel, received: received)
    }

    func send(_ bytes: [UInt8]) async {
        try? await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Whether the server closed the connection within `timeout`.
    func waitClosed(timeout: Duration = .seconds(5)) async -> Bool {
        await transportEventually(timeout: timeout) { !self.channel.isActive }
    }

    /// The next whole frame payload the server sent, waiting up to `timeout`.
    func nextFrame(timeout: Duration = .seconds(5)) async -> [UInt8]? {
        var frame: [UInt8]?
        _ = await transportEventually(timeout: timeout) {
            frame = self.received.withLockedValue { buffer in
                guard buffer.count >= 4 else { return nil }
                let n = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
                guard buffer.count >= 4 + n else { return nil }
                let payload = Array(buffer[4 ..< 4 + n])
                buffer.removeFirst(4 + n)
                return payload
            }
            return frame != nil
        }
        return frame
    }

    func close() async {
        try? await channel.close().get()
    }
}
