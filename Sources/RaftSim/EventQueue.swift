/// A binary min-heap of items ordered by `(at, seq)`: the simulator's agenda. `seq` breaks
/// ties in insertion order so runs are deterministic.
///
/// The heap orders small keys only; the items wait in slots beside it, so sifting never copies
/// an item (the queue is generic across modules and not specialized: copying a large event
/// enum through its value witnesses took half of the HA simulator's time).
/// One entry of `EventQueue`'s heap: when, the tie-breaking insertion number, and the slot of
/// its item (outside the generic queue, so that sifting needs no generic metadata).
@usableFromInline struct EventQueueKey {
    @usableFromInline var at: Int
    @usableFromInline var seq: Int
    @usableFromInline var slot: Int
    @inlinable init(at: Int, seq: Int, slot: Int) {
        self.at = at
        self.seq = seq
        self.slot = slot
    }
}

package struct EventQueue<Item> {
    @usableFromInline var heap: [EventQueueKey] = []
    @usableFromInline var slots: [Item?] = []
    @usableFromInline var freeSlots: [Int] = []
    @usableFromInline var nextSeq = 0

    @inlinable package init() {}

    @inlinable
    package var count: Int { heap.count }
    @inlinable
    package var isEmpty: Bool { heap.isEmpty }
    /// When the earliest item is due (nil: none).
    @inlinable
    package var nextAt: Int? { heap.first?.at }

    @inlinable
    package mutating func push(_ item: Item, at: Int) {
        let slot: Int
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[slot] = item
        } else {
            slot = slots.count
            slots.append(item)
        }
        heap.append(EventQueueKey(at: at, seq: nextSeq, slot: slot))
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
    @inlinable
    package mutating func popDue(_ now: Int) -> Item? {
        guard let first = heap.first, first.at <= now else { return nil }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
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
        let item = slots[first.slot].take()
        freeSlots.append(first.slot)
        return item
    }

    @inlinable
    package mutating func removeAll() {
        heap.removeAll()
        slots.removeAll()
        freeSlots.removeAll()
    }

    /// Removes every item for which `shouldRemove` is true; returns how many. Keeps the
    /// order of the rest (ties still break by insertion).
    @discardableResult
    @inlinable
    package mutating func removeAll(where shouldRemove: (Item) -> Bool) -> Int {
        let before = heap.count
        var kept: [EventQueueKey] = []
        kept.reserveCapacity(heap.count)
        for key in heap {
            if let item = slots[key.slot], shouldRemove(item) {
                slots[key.slot] = nil
                freeSlots.append(key.slot)
            } else {
                kept.append(key)
            }
        }
        kept.sort { ($0.at, $0.seq) < ($1.at, $1.seq) }
        heap = kept  // a sorted array is a valid min-heap
        return before - kept.count
    }

    @inlinable func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].at < heap[b].at || (heap[a].at == heap[b].at && heap[a].seq < heap[b].seq)
    }
}
