import ExchangeCore
import Synchronization

/// Requests waiting for what the logs say about their orders (RESULT/FULL placements,
/// cancels). A request registers its order *before* it appends, so no notice can slip past;
/// notices for orders nobody registered are dropped at once.
///
/// Thread-safe (a `Mutex`); a waiter is resumed exactly once, by a matching notice or by its
/// timeout.
final class NoticeBoard: Sendable {
    private struct Entry {
        /// Everything seen for the order since registration, merged: the last status, all fills.
        var merged: OrderNotice
        var hasNotice = false
        var predicate: (@Sendable (OrderNotice) -> Bool)?
        var continuation: CheckedContinuation<OrderNotice?, Never>?
        /// The current wait is over (timed out or answered): a continuation installed after
        /// this is resumed at once with nothing.
        var isWaitOver = false
    }

    private let entries = Mutex<[OrderID: Entry]>([:])

    func register(_ orderID: OrderID) {
        entries.withLock { $0[orderID] = Entry(merged: OrderNotice(orderID: orderID)) }
    }

    func unregister(_ orderID: OrderID) {
        let continuation = entries.withLock { $0.removeValue(forKey: orderID)?.continuation }
        continuation?.resume(returning: nil)
    }

    /// Merges `notices` into their registered orders and wakes the waiters they satisfy.
    func deliver(_ notices: [OrderNotice]) {
        var wake: [(CheckedContinuation<OrderNotice?, Never>, OrderNotice)] = []
        entries.withLock { entries in
            for notice in notices {
                guard var entry = entries[notice.orderID] else { continue }
                entry.merged.status = notice.status ?? entry.merged.status
                entry.merged.rejection = notice.rejection ?? entry.merged.rejection
                entry.merged.fills += notice.fills
                entry.merged.cancelRefused = entry.merged.cancelRefused || notice.cancelRefused
                entry.merged.cancelRefusal = notice.cancelRefusal ?? entry.merged.cancelRefusal
                entry.merged.endedInShard = entry.merged.endedInShard || notice.endedInShard
                entry.hasNotice = true
                if let predicate = entry.predicate, let continuation = entry.continuation, predicate(entry.merged) {
                    wake.append((continuation, entry.merged))
                    entry.continuation = nil
                    entry.predicate = nil
                }
                entries[notice.orderID] = entry
            }
        }
        for (continuation, notice) in wake { continuation.resume(returning: notice) }
    }

    private func endWait(for orderID: OrderID) {
        let continuation = entries.withLock { entries -> CheckedContinuation<OrderNotice?, Never>? in
            let continuation = entries[orderID]?.continuation
            entries[orderID]?.continuation = nil
            entries[orderID]?.predicate = nil
            entries[orderID]?.isWaitOver = true
            return continuation
        }
        continuation?.resume(returning: nil)
    }

    /// Waits up to `timeout` until what was seen of the registered `orderID` satisfies
    /// `predicate`; returns it (nil on timeout). The registration stays until `unregister`.
    func wait(for orderID: OrderID, timeout: Duration, until predicate: @escaping @Sendable (OrderNotice) -> Bool) async -> OrderNotice? {
        await withTaskGroup(of: OrderNotice?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    enum Installation { case installed, answered(OrderNotice?) }
                    let installation: Installation = self.entries.withLock { entries in
                        guard var entry = entries[orderID], !entry.isWaitOver else { return .answered(nil) }
                        if entry.hasNotice, predicate(entry.merged) { return .answered(entry.merged) }
                        entry.predicate = predicate
                        entry.continuation = continuation
                        entries[orderID] = entry
                        return .installed
                    }
                    if case .answered(let notice) = installation { continuation.resume(returning: notice) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.endWait(for: orderID)
                return nil
            }
            let first = await group.next() ?? nil
            // Whichever child is left ends now: the sleep is cancelled, a pending continuation
            // (or one about to be installed) is answered with nothing.
            group.cancelAll()
            endWait(for: orderID)
            return first
        }
    }
}
