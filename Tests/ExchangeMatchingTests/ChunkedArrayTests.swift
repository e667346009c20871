@testable import ExchangeMatching
import Testing

@Suite struct ChunkedArrayTests {
    typealias Numbers = ChunkedArray<Int>

    func numbers(_ count: Int) -> Numbers {
        var array = Numbers()
        for value in 0..<count { array.append(value) }
        return array
    }

    @Test("appends fill chunks in order; reads and writes reach every index")
    func indexing() {
        let count = Numbers.chunkSize * 2 + 3
        var array = numbers(count)
        #expect(array.count == count)
        #expect(array.chunks.count == 3)
        #expect(array.chunks.map(\.count) == [Numbers.chunkSize, Numbers.chunkSize, 3])
        #expect(array.capacity == 3 * Numbers.chunkSize)
        #expect((0..<count).allSatisfy { array[$0] == $0 })
        for index in stride(from: 0, to: count, by: 7) { array[index] += 1_000_000 }
        #expect((0..<count).allSatisfy { array[$0] == $0 + ($0 % 7 == 0 ? 1_000_000 : 0) })
    }

    /// Where a chunk's elements live: equal for chunks two arrays share.
    func storage(_ chunk: [Int]) -> UnsafeRawPointer? { chunk.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }

    @Test("a write after a copy duplicates only the chunk it lands in; the copy keeps its values")
    func copyOnWritePerChunk() {
        var array = numbers(Numbers.chunkSize * 2 + 10)
        let copy = array
        array[Numbers.chunkSize + 5] = -1
        #expect(copy[Numbers.chunkSize + 5] == Numbers.chunkSize + 5)
        #expect(array[Numbers.chunkSize + 5] == -1)
        #expect(zip(array.chunks, copy.chunks).map { storage($0) == storage($1) } == [true, false, true])
        // An append into a shared last chunk separates it too.
        array.append(-2)
        #expect(copy.count == Numbers.chunkSize * 2 + 10 && array.count == copy.count + 1)
        #expect(zip(array.chunks, copy.chunks).map { storage($0) == storage($1) } == [true, false, false])
        #expect(array[array.count - 1] == -2 && array[array.count - 2] == copy[copy.count - 1])
    }

    @Test("elements that hold references are released with their chunk")
    func releasesElements() {
        final class Tracked {}
        weak var tracked: Tracked?
        do {
            var array = ChunkedArray<Tracked>()
            let object = Tracked()
            tracked = object
            array.append(object)
            var copy = array
            copy[0] = Tracked()
            #expect(array[0] === object)
        }
        #expect(tracked == nil)
    }
}
