import ExchangeCore
@testable import ExchangeMatching
import ExchangeOrderFlow
import Testing

@Suite struct OrderIndexTests {
    @Test("finds every live id and none of the removed ones under heavy churn")
    func churn() {
        let capacity = 512
        var index = OrderIndex(maximumEntries: capacity)
        var orders: [RestingOrder] = (0..<capacity).map { _ in
            RestingOrder(orderID: 0, userID: 0, quantity: 0, remaining: 0, previous: .nilSlot, next: .nilSlot, level: .nilSlot)
        }
        var live: [OrderID: Slot] = [:]
        var freeSlots = Array((0..<Slot(capacity)).reversed())
        var random = SeededRandom(seed: 5)
        var nextID: OrderID = 1
        for _ in 0..<50_000 {
            if !freeSlots.isEmpty, live.isEmpty || random.chance(0.5) {
                let slot = freeSlots.removeLast()
                // Clustered ids stress linear probing and wrap-around.
                let id = nextID &* (random.chance(0.5) ? 1 : 1 << 32)
                nextID += 1
                orders[Int(slot)].orderID = id
                index.insert(id, slot: slot)
                live[id] = slot
            } else {
                let (id, slot) = live.randomElement(using: &random)!
                index.remove(id, in: orders)
                live[id] = nil
                freeSlots.append(slot)
            }
        }
        #expect(index.occupiedCount == live.count)
        for (id, slot) in live { #expect(index.find(id, in: orders) == slot) }
        #expect(index.find(OrderID.max, in: orders) == .nilSlot)
    }
}
