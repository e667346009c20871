/// xoshiro256** seeded through SplitMix64: fast, and the same sequence for the same seed on
/// every platform, so any generated flow or simulation replays from its seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)
    public let seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = (state.3 << 45) | (state.3 >> 19)
        return result
    }

    /// True with probability `probability`.
    public mutating func chance(_ probability: Double) -> Bool {
        Double(next() >> 11) * 0x1p-53 < probability
    }

    /// A geometric count of failures before a success of probability `probability` (mean (1-p)/p), capped.
    public mutating func geometric(_ probability: Double, cap: Int64) -> Int64 {
        var count: Int64 = 0
        while count < cap, !chance(probability) { count += 1 }
        return count
    }
}
