/// Recursive Length Prefix, Ethereum's serialisation of transactions (Yellow Paper, appendix B):
/// byte strings and lists of items, nothing else. Integers are big-endian without leading
/// zeros (zero is the empty string).
public indirect enum RLP: Sendable, Equatable {
    case bytes([UInt8])
    case list([RLP])

    /// An unsigned integer as RLP wants it.
    public static func integer(_ value: UInt128) -> RLP {
        var bytes: [UInt8] = []
        var rest = value
        while rest > 0 {
            bytes.insert(UInt8(truncatingIfNeeded: rest), at: 0)
            rest >>= 8
        }
        return .bytes(bytes)
    }

    public static func string(_ text: String) -> RLP { .bytes(Array(text.utf8)) }

    public var encoded: [UInt8] {
        switch self {
        case .bytes(let bytes):
            if bytes.count == 1, bytes[0] < 0x80 { return bytes }
            return Self.prefix(length: bytes.count, short: 0x80) + bytes
        case .list(let items):
            let payload = items.flatMap(\.encoded)
            return Self.prefix(length: payload.count, short: 0xC0) + payload
        }
    }

    /// `short + length` below 56 bytes; else `short + 55 + (length of the length)` and the
    /// length big-endian.
    static func prefix(length: Int, short: UInt8) -> [UInt8] {
        if length < 56 { return [short + UInt8(length)] }
        var lengthBytes: [UInt8] = []
        var rest = length
        while rest > 0 {
            lengthBytes.insert(UInt8(truncatingIfNeeded: rest), at: 0)
            rest >>= 8
        }
        return [short + 55 + UInt8(lengthBytes.count)] + lengthBytes
    }
}

extension RLP {
    /// The item `bytes` encode, all of them consumed; nil if they are not exactly one item.
    public static func decode(_ bytes: [UInt8]) -> RLP? {
        var index = 0
        guard let item = decodeItem(bytes, &index), index == bytes.count else { return nil }
        return item
    }

    static func decodeItem(_ bytes: [UInt8], _ index: inout Int) -> RLP? {
        guard index < bytes.count else { return nil }
        let first = bytes[index]
        index += 1
        if first < 0x80 { return .bytes([first]) }
        let isList = first >= 0xC0
        let short = Int(isList ? first - 0xC0 : first - 0x80)
        var length = short
        if short > 55 {
            let lengthOfLength = short - 55
            guard lengthOfLength <= 4, index + lengthOfLength <= bytes.count else { return nil }
            length = bytes[index..<index + lengthOfLength].reduce(0) { $0 << 8 | Int($1) }
            index += lengthOfLength
        }
        guard length >= 0, index + length <= bytes.count else { return nil }
        let end = index + length
        guard isList else {
            let payload = Array(bytes[index..<end])
            index = end
            return .bytes(payload)
        }
        var items: [RLP] = []
        while index < end {
            guard let item = decodeItem(bytes, &index), index <= end else { return nil }
            items.append(item)
        }
        return .list(items)
    }

    /// A big-endian integer's value (at most 16 bytes: the caller checks the count).
    public static func integer(_ bytes: [UInt8]) -> UInt128 { bytes.reduce(0) { $0 << 8 | UInt128($1) } }
}
