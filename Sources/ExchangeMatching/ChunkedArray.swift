import CPrefetch

/// An array stored in chunks of `chunkSize` elements, each copy-on-write on its own.
///
/// The engine is a value: a replica snapshots a copy while it goes on matching. With flat
/// arrays, the first write after that copy duplicated a whole pool at once (1M resting
/// orders: about 50 MB, 10-30 ms on the matching thread: the p99.9 of a snapshot). Here a
/// write duplicates only its chunk, so the cost spreads over the writes that follow, a chunk
/// (tens of µs) at a time. For the order pool it costs about 8% of the engine's raw
/// throughput at 10,000 symbols and 13% at 5 (the extra indirection; `exchange bench
/// matching`, flat arrays as the baseline), so only that pool, the one big enough to stall,
/// uses it.
///
/// Invariants: every chunk but the last holds exactly `chunkSize` elements and the last
/// 1...`chunkSize`; `count` is their total.
struct ChunkedArray<Element> {
    /// log2 of `chunkSize`.
    static var chunkShift: Int { 12 }
    /// Elements per chunk (4,096: 192 KB of resting orders).
    static var chunkSize: Int { 1 << chunkShift }

    private(set) var chunks: [[Element]] = []
    private(set) var count = 0

    init() {}

    /// Reserves room for `minimumCapacity / chunkSize` chunks in the chunk list; chunks
    /// themselves are allocated whole, when the first element lands in them.
    mutating func reserveCapacity(_ minimumCapacity: Int) {
        chunks.reserveCapacity((minimumCapacity + Self.chunkSize - 1) >> Self.chunkShift)
    }

    /// Elements the allocated chunks can hold.
    var capacity: Int { chunks.count << Self.chunkShift }

    @inline(__always)
    subscript(index: Int) -> Element {
        get { chunks[index &>> Self.chunkShift][index & (Self.chunkSize - 1)] }
        _modify { yield &chunks[index &>> Self.chunkShift][index & (Self.chunkSize - 1)] }
    }

    /// Hints the CPU to load element `index`'s cache line. - Precondition: `index < count`.
    @inline(__always)
    func prefetch(_ index: Int) {
        chunks[index &>> Self.chunkShift].withUnsafeBufferPointer { exchange_prefetch($0.baseAddress! + (index & (Self.chunkSize - 1))) }
    }

    mutating func append(_ element: Element) {
        if count & (Self.chunkSize - 1) == 0 {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }
}

extension ChunkedArray: Sendable where Element: Sendable {}
