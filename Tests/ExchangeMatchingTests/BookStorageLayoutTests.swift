@testable import ExchangeMatching
import Testing

/// The memory budget (≤ 64 bytes per resting order) and the cache behaviour depend on these
/// sizes; a field added carelessly shows up here first.
@Suite struct BookStorageLayoutTests {
    @Test("hot records keep their sizes")
    func strides() {
        #expect(MemoryLayout<RestingOrder>.stride == 48)
        #expect(MemoryLayout<PriceLevel>.stride == 32)
        #expect(MemoryLayout<LevelKey>.stride == 16)
        #expect(MemoryLayout<OrderBook>.stride == 64)
    }
}
