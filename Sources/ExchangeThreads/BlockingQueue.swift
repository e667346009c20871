import Foundation

/// A queue that many producers fill and one consumer thread drains, blocking while it is
/// empty: the hand-off to a dedicated thread (`ConnectionThread`, a replica's state machine).
///
/// `@unchecked Sendable`: `elements` and `isClosed` are only touched with `condition` locked.
public final class BlockingQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var elements: [Element] = []
    private var isClosed = false

    public init() {}

    /// Appends `element`; with `wake` false the consumer is not signalled (it is the caller,
    /// and takes the element after what it is doing). Returns the queue's length, elements
    /// waiting included, or nil when it is closed (the element is dropped).
    @discardableResult
    public func push(_ element: Element, wake: Bool = true) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard !isClosed else { return nil }
        elements.append(element)
        if wake { condition.signal() }
        return elements.count
    }

    /// Refuses further elements; the consumer still gets what is queued.
    public func close() {
        condition.lock()
        isClosed = true
        condition.signal()
        condition.unlock()
    }

    /// Everything queued, oldest first, waiting until there is something; nil once the queue
    /// is closed and drained.
    public func takeAll() -> [Element]? {
        condition.lock()
        defer { condition.unlock() }
        while elements.isEmpty, !isClosed { condition.wait() }
        if elements.isEmpty { return nil }
        defer { elements.removeAll(keepingCapacity: true) }
        return elements
    }
}
