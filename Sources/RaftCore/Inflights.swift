/// The append messages sent to one follower and not yet acknowledged, as the last index each
/// carried. Bounded by a message count and a byte budget; the leader stops sending to a
/// follower whose window is full (flow control, as etcd's `tracker/inflights.go`).
struct Inflights: Equatable {
    private var lastIndices: [LogIndex] = []
    private var sizes: [Int] = []
    private var head = 0
    private(set) var bytes = 0
    let maxCount: Int
    let maxBytes: Int

    init(maxCount: Int, maxBytes: Int) {
        self.maxCount = max(1, maxCount)
        self.maxBytes = max(1, maxBytes)
    }

    var count: Int { lastIndices.count - head }

    /// Whether no further message may be sent.
    var isFull: Bool { count >= maxCount || bytes >= maxBytes }

    /// Records a sent message whose last entry is `index` and whose entries weigh `size` bytes.
    mutating func add(_ index: LogIndex, size: Int) {
        lastIndices.append(index)
        sizes.append(size)
        bytes += size
    }

    /// Frees every message whose last index is at or below `index` (they are acknowledged).
    mutating func freeUpTo(_ index: LogIndex) {
        while head < lastIndices.count && lastIndices[head] <= index {
            bytes -= sizes[head]
            head += 1
        }
        if head > 64 && head * 2 > lastIndices.count {
            lastIndices.removeFirst(head)
            sizes.removeFirst(head)
            head = 0
        }
    }

    /// Frees the oldest message, whatever its index: called when the window is full and the
    /// follower answered a heartbeat, so a window whose appends were all lost drains (the
    /// next append then finds the gap and the follower is probed again), as etcd does.
    mutating func freeFirstOne() {
        guard head < lastIndices.count else { return }
        freeUpTo(lastIndices[head])
    }

    mutating func reset() {
        lastIndices.removeAll(keepingCapacity: true)
        sizes.removeAll(keepingCapacity: true)
        head = 0
        bytes = 0
    }
}
