/// What an API key may do. A key is created with `read` at least; `trade` places and cancels
/// orders; `withdraw` moves funds out (the wallet's endpoints).
public struct APIKeyPermissions: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let read = APIKeyPermissions(rawValue: 1)
    public static let trade = APIKeyPermissions(rawValue: 2)
    public static let withdraw = APIKeyPermissions(rawValue: 4)

    /// The names the API uses, in this order.
    public static let names: [(String, APIKeyPermissions)] = [("read", .read), ("trade", .trade), ("withdraw", .withdraw)]

    /// Parses names (`read`, `trade`, `withdraw`); nil for an unknown name. `read` is implied.
    public init?(names: [String]) {
        var permissions: APIKeyPermissions = .read
        for name in names {
            guard let permission = Self.names.first(where: { $0.0 == name })?.1 else { return nil }
            permissions.insert(permission)
        }
        self = permissions
    }

    public var names: [String] { Self.names.filter { contains($0.1) }.map(\.0) }
}

/// An API key's IP whitelist: empty means any address. Entries are exact addresses (IPv4
/// dotted or IPv6 text as the server sees the peer); at most `maximumEntries`.
public struct IPWhitelist: Sendable, Hashable {
    public static let maximumEntries = 30
    public let addresses: [String]

    /// Nil when there are too many entries or one is not an IPv4 (dotted quad) or IPv6 address.
    public init?(_ addresses: [String]) {
        guard addresses.count <= Self.maximumEntries, addresses.allSatisfy({ Self.isIPv4($0[...]) || Self.isIPv6($0) }) else { return nil }
        self.addresses = addresses
    }

    /// Four decimal parts 0...255 without leading zeros ("10.0.0.1").
    static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy(\.isASCIIDigit) && (part.count == 1 || part.first != "0") && Int(part)! <= 255
        }
    }

    /// Eight groups of 1 to 4 hex digits, or fewer around one `::`; the last 32 bits may be an
    /// IPv4 dotted quad ("::ffff:10.0.0.1").
    static func isIPv6(_ text: String) -> Bool {
        guard text.count <= 45, text.contains(":") else { return false }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return false }
        var groups = 0
        for (index, half) in halves.enumerated() where !half.isEmpty {
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            for (position, part) in parts.enumerated() {
                if index == halves.count - 1, position == parts.count - 1, part.contains(".") {
                    guard isIPv4(part) else { return false }
                    groups += 2
                } else {
                    guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit) else { return false }
                    groups += 1
                }
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }

    public func allows(_ address: String?) -> Bool {
        addresses.isEmpty || address.map(addresses.contains) ?? false
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
