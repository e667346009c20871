/// The newest `capacity` elements appended, oldest first: appending to a full ring drops the
/// oldest. O(1) append and index.
///
/// Invariant: `0 <= start < max(1, storage.count)`, `storage.count <= capacity`; element `i`
/// (oldest first) is `storage[(start + i) % storage.count]`.
public struct BoundedRing<Element: Sendable>: Sendable, RandomAccessCollection {
    public let capacity: Int
    private var storage: [Element] = []
    private var start = 0
    /// Whether an element was ever dropped to make room.
    public private(set) var hasDropped = false

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }

    public subscript(index: Int) -> Element {
        get { storage[(start + index) % storage.count] }
        set { storage[(start + index) % storage.count] = newValue }
    }

    /// Appends `element`, dropping the oldest one if the ring is full.
    public mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[start] = element
            start = (start + 1) % capacity
            hasDropped = true
        }
    }
}
