/// A binary min-heap of items ordered by `(at, seq)`: the simulator's agenda. `seq` breaks
/// ties in insertion order so runs are deterministic.
package struct EventQueue<Item> {
    private var heap: [(at: Int, seq: Int, item: Item)] = []
    private var nextSeq = 0

    package init() {}

    package var count: Int { heap.count }
    package var isEmpty: Bool { heap.isEmpty }
    /// When the earliest item is due (nil: none).
    package var nextAt: Int? { heap.first?.at }

    package mutating func push(_ item: Item, at: Int) {
        heap.append((at, nextSeq, item))
        nextSeq += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if less(i, parent) {
                heap.swapAt(i, parent)
                i = parent
            } else {
                break
            }
        }
    }

    /// Removes and returns the earliest item due at or before `now`.
    package mutating func popDue(_ now: Int) -> Item? {
        guard let first = heap.first, first.at <= now else { return nil }
        heap.swapAt(0, heap.count - 1)
        let out = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && less(l, m) { m = l }
            if r < heap.count && less(r, m) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        _ = first
        return out.item
    }

    package mutating func removeAll() { heap.removeAll() }

    /// Removes every item for which `shouldRemove` is true; returns how many. Keeps the
    /// order of the rest (ties still break by insertion).
    @discardableResult
    package mutating func removeAll(where shouldRemove: (Item) -> Bool) -> Int {
        let before = heap.count
        let kept = heap.filter { !shouldRemove($0.item) }.sorted { ($0.at, $0.seq) < ($1.at, $1.seq) }
        heap = kept  // a sorted array is a valid min-heap
        return before - kept.count
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].at < heap[b].at || (heap[a].at == heap[b].at && heap[a].seq < heap[b].seq)
    }
}
