/// A 20-byte Ethereum account address, parsed from and printed as EIP-55 mixed-case hex.
///
/// Parsing accepts `0x` + 40 hex digits: all lower case or all upper case (no checksum), or
/// mixed case that must match the EIP-55 checksum exactly (a mistyped address is refused,
/// not sent money).
public struct EthereumAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// - Precondition: `bytes.count == 20`.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 20, "an Ethereum address is 20 bytes")
        self.bytes = bytes
    }

    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed
        case badChecksum

        public var description: String {
            switch self {
            case .malformed: "not an Ethereum address: 0x and 40 hex digits expected"
            case .badChecksum: "the address's mixed case does not match its EIP-55 checksum (a typo?)"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        let digits = Array(text.utf8)
        guard digits.count == 42, digits[0] == UInt8(ascii: "0"), digits[1] == UInt8(ascii: "x") || digits[1] == UInt8(ascii: "X"),
              let bytes = Hex.decode(text) else {
            throw .malformed
        }
        let body = digits[2...]
        let hasLower = body.contains { (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
        let hasUpper = body.contains { (UInt8(ascii: "A")...UInt8(ascii: "F")).contains($0) }
        self.init(bytes: bytes)
        if hasLower && hasUpper, description.utf8.dropFirst(2).elementsEqual(body) == false { throw .badChecksum }
    }

    /// EIP-55: a hex letter is upper case when the matching nibble of Keccak-256 of the
    /// lower-case hex is 8 or more.
    public var description: String {
        let hex = Array(Hex.encode(bytes).utf8)
        let hash = Keccak256.hash(hex)
        var output = "0x"
        for (index, character) in hex.enumerated() {
            let nibble = index % 2 == 0 ? hash[index / 2] >> 4 : hash[index / 2] & 0x0F
            let isLetter = character >= UInt8(ascii: "a")
            output.append(Character(Unicode.Scalar(isLetter && nibble >= 8 ? character - 32 : character)))
        }
        return output
    }
}
