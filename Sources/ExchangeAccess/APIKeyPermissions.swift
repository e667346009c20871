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

    /// Nil when there are too many entries or one is not an IP address's text.
    public init?(_ addresses: [String]) {
        guard addresses.count <= Self.maximumEntries,
              addresses.allSatisfy({ !$0.isEmpty && $0.count <= 45 && $0.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" } }) else {
            return nil
        }
        self.addresses = addresses
    }

    public func allows(_ address: String?) -> Bool {
        addresses.isEmpty || address.map(addresses.contains) ?? false
    }
}
