import ExchangeCluster
import Testing

struct PlacementHistoryTests {
    @Test("an output routes to the shard of the last change whose cut for its partition is below its position")
    func routing() throws {
        // Registered on shard 0 when both partitions were empty, moved to 1 at (10, 4), back to 0 at (20, 9).
        let history = try #require(PlacementHistory(text: "0@0,0;1@10,4;0@20,9"))
        #expect(history.changes == [.init(shard: 0, cuts: [0, 0]), .init(shard: 1, cuts: [10, 4]), .init(shard: 0, cuts: [20, 9])])
        let partition0 = (1...25).map { history.shard(partition: 0, position: $0) }
        #expect(partition0 == Array(repeating: 0, count: 10) + Array(repeating: 1, count: 10) + Array(repeating: 0, count: 5))
        #expect(history.shard(partition: 1, position: 4) == 0)
        #expect(history.shard(partition: 1, position: 5) == 1)
        #expect(history.shard(partition: 1, position: 9) == 1)
        #expect(history.shard(partition: 1, position: 10) == 0)
    }

    @Test("before a symbol's registration, and for a partition no change has a cut for, it is held nowhere")
    func beforeRegistration() throws {
        let history = try #require(PlacementHistory(text: "3@5,7"))
        #expect(history.shard(partition: 0, position: 5) == nil)
        #expect(history.shard(partition: 0, position: 6) == 3)
        #expect(history.shard(partition: 1, position: 7) == nil)
        #expect(history.shard(partition: 1, position: 8) == 3)
        #expect(history.shard(partition: 2, position: 100) == nil)
    }

    @Test("malformed text is no history")
    func malformed() {
        for bad in ["", "0", "0@", "x@1", "0@1,a", "0@1;", "0@1;;1@2", "0@-1", "0@1@2", "-1@1"] {
            #expect(PlacementHistory(text: bad) == nil, "\(bad)")
        }
        #expect(PlacementHistory(text: "2@7")?.changes == [.init(shard: 2, cuts: [7])])
    }
}
