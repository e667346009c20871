import ExchangeCore
import Testing

/// The checksum of `bytes` fed in chunks that end at each of `cuts`.
private func checksum(_ bytes: [UInt8], cuts: [Int] = []) -> UInt64 {
    var checksum = Checksum64()
    var start = 0
    for end in cuts + [bytes.count] {
        bytes[start..<end].withUnsafeBytes { checksum.update($0) }
        start = end
    }
    return checksum.value
}

/// `count` bytes that differ from their neighbours.
private func sequence(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
}

@Suite struct Checksum64Tests {
    @Test("Splitting the input at any one point gives the same value", arguments: [0, 1, 7, 8, 9, 15, 16, 17, 33])
    func oneCutAnywhere(count: Int) {
        let bytes = sequence(count)
        let whole = checksum(bytes)
        for cut in 0...count {
            #expect(checksum(bytes, cuts: [cut]) == whole, "length \(count), cut at \(cut)")
        }
    }

    @Test("Splitting the input at any two points gives the same value")
    func twoCutsAnywhere() {
        let bytes = sequence(29)
        let whole = checksum(bytes)
        for first in 0...bytes.count {
            for second in first...bytes.count {
                #expect(checksum(bytes, cuts: [first, second]) == whole, "cuts at \(first), \(second)")
            }
        }
    }

    @Test("Byte-at-a-time and random chunkings give the same value")
    func randomChunkings() {
        let seed: UInt64 = 0xC4EC_5000
        var random = SplitMix64(seed: seed)
        let bytes = (0..<1_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let whole = checksum(bytes)
        #expect(checksum(bytes, cuts: Array(1..<bytes.count)) == whole)
        for round in 0..<200 {
            let cuts = (0..<Int(random.next() % 40)).map { _ in Int(random.next() % UInt64(bytes.count + 1)) }.sorted()
            #expect(checksum(bytes, cuts: cuts) == whole, "seed \(seed) round \(round) cuts \(cuts)")
        }
    }

    @Test("Changing any one bit changes the value")
    func oneBitChanges() {
        let bytes = sequence(40)
        let original = checksum(bytes)
        for index in bytes.indices {
            for bit in 0..<8 {
                var changed = bytes
                changed[index] ^= 1 << bit
                #expect(checksum(changed) != original, "byte \(index) bit \(bit)")
            }
        }
    }

    @Test("every two-bit change of a 24-byte input is detected")
    func everyTwoBitChange() {
        // The first mix (multiply then rotate) let bit 63 of one word cancel against bit 28 of
        // the next; the folded multiply must leave no such pair.
        let bytes = sequence(24)
        let original = checksum(bytes)
        let bitCount = bytes.count * 8
        for first in 0..<bitCount {
            for second in (first + 1)..<bitCount {
                var changed = bytes
                changed[first / 8] ^= 1 << (first % 8)
                changed[second / 8] ^= 1 << (second % 8)
                if checksum(changed) == original {
                    Issue.record("bits \(first) and \(second) cancel")
                    return
                }
            }
        }
    }

    @Test("Length matters: trailing zero bytes change the value")
    func lengthMatters() {
        var values: Set<UInt64> = []
        for count in 0...24 {
            values.insert(checksum(Array(repeating: 0, count: count)))
        }
        #expect(values.count == 25)
        #expect(checksum([1]) != checksum([1, 0]))
        #expect(checksum([1, 2, 3, 4, 5, 6, 7, 8]) != checksum([1, 2, 3, 4, 5, 6, 7, 8, 0]))
        #expect(checksum([]) != checksum([0]))
    }

    @Test("Reading the value does not disturb later updates")
    func valueIsARead() {
        let bytes = sequence(21)
        var running = Checksum64()
        bytes[0..<5].withUnsafeBytes { running.update($0) }
        _ = running.value
        bytes[5...].withUnsafeBytes { running.update($0) }
        #expect(running.value == checksum(bytes))
    }

    @Test("Combining a word equals updating with its little-endian bytes")
    func combineMatchesBytes() {
        var words = Checksum64()
        words.combine(UInt64(0x0102_0304_0506_0708))
        words.combine(Int64(-1))
        let bytes: [UInt8] = [8, 7, 6, 5, 4, 3, 2, 1] + Array(repeating: 0xFF, count: 8)
        #expect(words.value == checksum(bytes))
    }

    @Test("The value is stable across runs and platforms (stored checksums stay valid)")
    func goldenValues() {
        #expect(checksum([]) == Self.goldenEmpty)
        #expect(checksum(Array("OpenExchange".utf8)) == Self.goldenText)
    }

    static let goldenEmpty: UInt64 = 4_583_249_194_412_069_387
    static let goldenText: UInt64 = 5_845_353_358_719_757_054
}
