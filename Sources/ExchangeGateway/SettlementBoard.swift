import ExchangeClearing
import ExchangeCore
import Synchronization

/// Which trade legs, order freezes and order releases the projection has written into the
/// balance view, so a RESULT or FULL placement answers only once its freeze and fills are
/// there, and a cancel once its order's freeze is released: `GET /api/v3/account` right after
/// the answer shows them (read your writes).
///
/// A leg is the key `MEMO#USER` (clearing's transaction memo, `SYMBOL trade ID`, `order ID
/// frozen` or `order ID ended`, and the user whose accounts it moved). The projection may write a leg before the placement asks for it, so the
/// board remembers the last `capacity` legs; a waiter is resumed exactly once, when all its
/// legs are in or at its timeout. Thread-safe (a `Mutex`).
final class SettlementBoard: Sendable {
    private struct Waiter {
        var missing: Set<String>
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var recent: Set<String> = []
        /// `recent` in arrival order, as a ring of `capacity` slots (`next` is the oldest).
        var ring: [String] = []
        var next = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Waits that ended (timed out or answered) before their waiter was installed.
        var ended: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 100_000) {
        precondition(capacity > 0, "a settlement board remembers at least one leg")
        self.capacity = capacity
    }

    /// The key of the leg of the settlement with `memo` that moved `user`'s accounts.
    static func leg(memo: String, user: UserID) -> String { "\(memo)#\(user)" }

    /// The key of the leg of trade `tradeID` of `symbol` that moved `user`'s accounts (clearing's
    /// settlement memo is `SYMBOL trade ID`).
    static func leg(symbol: String, tradeID: UInt64, user: UserID) -> String { leg(memo: "\(symbol) trade \(tradeID)", user: user) }

    /// The key of the freeze of order `orderID` of `user`'s funds.
    static func freeze(orderID: OrderID, user: UserID) -> String { leg(memo: LedgerTransaction.orderFrozenMemo(orderID), user: user) }

    /// The key of the release of what order `orderID` of `user` still had frozen when it ended.
    static func release(orderID: OrderID, user: UserID) -> String { leg(memo: LedgerTransaction.orderEndedMemo(orderID), user: user) }

    /// The legs written: remembered, and waiters whose legs are now all in are resumed.
    func settled(_ legs: [String]) {
        guard !legs.isEmpty else { return }
        let written = Set(legs)
        let ready: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            for leg in legs where !state.recent.contains(leg) {
                if state.ring.count < capacity {
                    state.ring.append(leg)
                } else {
                    state.recent.remove(state.ring[state.next])
                    state.ring[state.next] = leg
                    state.next = (state.next + 1) % capacity
                }
                state.recent.insert(leg)
            }
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, var waiter) in state.waiters {
                waiter.missing = waiter.missing.filter { !written.contains($0) }
                if waiter.missing.isEmpty {
                    ready.append(waiter.continuation)
                    state.waiters[id] = nil
                } else {
                    state.waiters[id] = waiter
                }
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Waits up to `timeout` until every leg of `legs` is written; true if they all were.
    func wait(for legs: Set<String>, timeout: Duration) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let answered = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let answer = self.state.withLock { state -> Bool? in
                        if state.ended.contains(id) { return false }
                        // Not `subtracting(recent)`: that walks all of `recent` (up to `capacity`), under the lock.
                        let missing = legs.filter { !state.recent.contains($0) }
                        if missing.isEmpty { return true }
                        state.waiters[id] = Waiter(missing: missing, continuation: continuation)
                        return nil
                    }
                    if let answer { continuation.resume(returning: answer) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.endWait(id)
                return false
            }
            let first = await group.next() ?? false
            // Whichever child is left ends now: the sleep is cancelled, a waiter (installed or
            // about to be) is answered with false.
            group.cancelAll()
            endWait(id)
            return first
        }
        // Every child is done: nothing can install this waiter any more.
        state.withLock { _ = $0.ended.remove(id) }
        return answered
    }

    /// Resumes waiter `id` with false if it still waits, and marks its wait over.
    private func endWait(_ id: UInt64) {
        state.withLock { state -> Waiter? in
            state.ended.insert(id)
            return state.waiters.removeValue(forKey: id)
        }?.continuation.resume(returning: false)
    }
}
