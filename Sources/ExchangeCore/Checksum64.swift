/// A streaming 64-bit checksum over bytes or words, independent of how input is chunked.
///
/// Detects corruption and truncation (it is not a cryptographic hash). Bytes are consumed
/// as little-endian 64-bit words; a partial word is carried to the next `update`. The value
/// is the same on every platform and every run (no per-process seed), so it may be stored.
public struct Checksum64: Sendable {
    private var state: UInt64 = 0x243F_6A88_85A3_08D3
    private var carry: UInt64 = 0
    private var carryBytes = 0
    private var length: UInt64 = 0

    public init() {}

    /// Folded multiply (as in wyhash): the 128-bit product's halves xored, so every input
    /// bit reaches both high and low state bits and no bit pair cancels linearly.
    @inline(__always)
    private mutating func mix(_ word: UInt64) {
        let product = (state ^ word).multipliedFullWidth(by: 0x9E37_79B9_7F4A_7C15)
        state = product.high ^ product.low ^ word
    }

    /// Adds one 64-bit value (used for digests of logical state; no byte carry involved).
    ///
    /// - Precondition: no partial word is pending from `update(_:)`.
    public mutating func combine(_ word: UInt64) {
        precondition(carryBytes == 0, "combine after a partial byte update")
        mix(word)
        length &+= 8
    }

    public mutating func combine(_ value: Int64) { combine(UInt64(bitPattern: value)) }

    /// Adds raw bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        let count = bytes.count
        length &+= UInt64(count)
        while carryBytes != 0, index < count {
            carry |= UInt64(bytes[index]) << UInt64(8 * carryBytes)
            carryBytes += 1
            index += 1
            if carryBytes == 8 {
                mix(carry)
                carry = 0
                carryBytes = 0
            }
        }
        while index + 8 <= count {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
            index += 8
        }
        while index < count {
            carry |= UInt64(bytes[index]) << UInt64(8 * carryBytes)
            carryBytes += 1
            index += 1
        }
    }

    /// The checksum of everything added so far; adding more afterwards is allowed.
    public var value: UInt64 {
        var copy = self
        copy.mix(copy.carry ^ (UInt64(copy.carryBytes) << 56))
        copy.mix(copy.length)
        var result = copy.state
        result ^= result >> 33
        result &*= 0xFF51_AFD7_ED55_8CCD
        result ^= result >> 33
        result &*= 0xC4CE_B9FE_1A85_EC53
        result ^= result >> 33
        return result
    }
}
