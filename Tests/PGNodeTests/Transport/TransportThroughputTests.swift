import Foundation
@testable import PGNode
import RaftCore
import Testing

/// Loopback throughput, one direction, for the report; asserts only that nothing was lost.
@Suite struct TransportThroughputTests {
    @Test func loopbackThroughputOfSmallAppends() async throws {
        try await withTransportTest { group, nodes in
            let a = try await nodes.start(1, group: group)
            let b = try await nodes.start(2, group: group)
            nodes.connectAll([a, b])
            // Warm up: connection established.
            a.transport.send(transportAppend(from: 1, to: 2, seq: 0))
            #expect(await transportEventually { b.inbox.count == 1 })

            let total = 50_000
            let window = 8_000  // stay below the queue bound: measure the transport, not drops
            let messages = (1 ... 1000).map { transportAppend(from: 1, to: 2, seq: UInt64($0)) }
            let frameSize = WireCodec.frame(messages[0]).count
            let clock = ContinuousClock()
            let start = clock.now
            var sent = 0
            while sent < total {
                if sent - (b.inbox.count - 1) < window {
                    for m in messages.prefix(min(500, total - sent)) { a.transport.send(m) }
                    sent += min(500, total - sent)
                } else {
                    try await Task.sleep(for: .microseconds(200))
                }
            }
            let all = await transportEventually(timeout: .seconds(60)) { b.inbox.count == total + 1 }
            let elapsed = clock.now - start
            #expect(all)
            #expect(a.counters.totalMessagesDropped == 0)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(total) / seconds
            print("throughput: \(total) append messages of \(frameSize) bytes on the wire in \(String(format: "%.2f", seconds)) s = \(Int(rate)) msg/s, \(String(format: "%.1f", rate * Double(frameSize) / 1e6)) MB/s (one direction, loopback)")
        }
    }
}
