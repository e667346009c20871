import ExchangeAccess
import ExchangeCore
import ExchangeHTTPAPI
import ExchangeRedis
import Foundation
import Logging
import PostgresNIO

/// Traders as support sees and helps them: search, a user's record, keys, orders, balances
/// and login history from PostgreSQL (what the recorder wrote), and the writes staff make:
/// lock / unlock (`users.frozen`), end sessions, clear a second factor, disable a key. Ending
/// sessions revokes the refresh tokens and sets `SessionRevocation`'s key, so gateways refuse
/// every access token issued before; a lock does both.
struct UserDirectory: Sendable {
    let postgres: PostgresClient
    let redis: RedisClient
    let logger: Logger

    /// Users whose email contains `query` (case-insensitive) or whose id is `query`, newest first.
    func search(_ query: String, limit: Int) async throws -> [JSONValue] {
        let id = Int64(query) ?? -1
        let pattern = "%" + query.lowercased().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        var users: [JSONValue] = []
        for try await row in try await postgres.query("""
            SELECT user_id, email, (extract(epoch FROM created_at) * 1000)::bigint, frozen, coalesce(locked_until > now(), false), totp_enabled
            FROM exchange_user.users WHERE user_id = \(id) OR email LIKE \(pattern) ORDER BY user_id DESC LIMIT \(limit)
            """, logger: logger).decode((Int64, String, Int64, Bool, Bool, Bool).self) {
            users.append(Self.userJSON(row))
        }
        return users
    }

    static func userJSON(_ row: (Int64, String, Int64, Bool, Bool, Bool)) -> JSONValue {
        .object([
            ("userId", .integer(row.0)), ("email", .string(row.1)), ("createdAt", .integer(row.2)), ("locked", .bool(row.3)),
            ("lockedAfterFailedLogins", .bool(row.4)), ("secondFactor", .bool(row.5)),
        ])
    }

    /// A user with their API keys (never a secret); nil if there is no such user.
    func user(_ id: Int64) async throws -> JSONValue? {
        var user: JSONValue?
        for try await row in try await postgres.query("""
            SELECT user_id, email, (extract(epoch FROM created_at) * 1000)::bigint, frozen, coalesce(locked_until > now(), false), totp_enabled
            FROM exchange_user.users WHERE user_id = \(id)
            """, logger: logger).decode((Int64, String, Int64, Bool, Bool, Bool).self) { user = Self.userJSON(row) }
        guard case .object(var members) = user else { return nil }
        var keys: [JSONValue] = []
        for try await (key, label, permissions, whitelist, enabled, created) in try await postgres.query("""
            SELECT api_key, label, permissions, ip_whitelist, enabled, (extract(epoch FROM created_at) * 1000)::bigint
            FROM exchange_user.api_keys WHERE user_id = \(id) ORDER BY created_at
            """, logger: logger).decode((String, String, Int, [String], Bool, Int64).self) {
            keys.append(.object([
                ("apiKey", .string(key)), ("label", .string(label)),
                ("permissions", .array(APIKeyPermissions(rawValue: permissions).names.map { .string($0) })),
                ("ipWhitelist", .array(whitelist.map { .string($0) })), ("enabled", .bool(enabled)), ("createdAt", .integer(created)),
            ]))
        }
        members.append(("apiKeys", .array(keys)))
        return .object(members)
    }

    func exists(_ id: Int64) async throws -> Bool {
        for try await _ in try await postgres.query("SELECT 1 FROM exchange_user.users WHERE user_id = \(id)", logger: logger) { return true }
        return false
    }

    /// The user's newest orders as the recorder wrote them.
    func orders(of id: Int64, limit: Int) async throws -> [JSONValue] {
        var orders: [JSONValue] = []
        for try await (order, symbol, side, type, tif, price, quantity, status, remaining) in try await postgres.query("""
            SELECT order_id, symbol, side, type, time_in_force, price_ticks, quantity_lots, status, remaining_lots
            FROM exchange_order.orders WHERE user_id = \(id) ORDER BY order_id DESC LIMIT \(limit)
            """, logger: logger).decode((Int64, String, String, String, String, Int64, Int64, String, Int64).self) {
            orders.append(.object([
                ("orderId", .integer(order)), ("symbol", .string(symbol)), ("side", .string(side)), ("type", .string(type)),
                ("timeInForce", .string(tif)), ("priceTicks", .integer(price)), ("quantityLots", .integer(quantity)),
                ("status", .string(status)), ("remainingLots", .integer(remaining)),
            ]))
        }
        return orders
    }

    /// The user's balances (asset units) as the recorder wrote them.
    func balances(of id: Int64) async throws -> [JSONValue] {
        var balances: [JSONValue] = []
        for try await (asset, available, frozen) in try await postgres.query("""
            SELECT asset, available, frozen FROM exchange_clearing.balances WHERE user_id = \(id) ORDER BY asset
            """, logger: logger).decode((String, Int64, Int64).self) {
            balances.append(.object([("asset", .string(asset)), ("availableUnits", .integer(available)), ("frozenUnits", .integer(frozen))]))
        }
        return balances
    }

    func loginHistory(of id: Int64, limit: Int) async throws -> [JSONValue] {
        var records: [JSONValue] = []
        for try await (time, ip, agent, success, reason) in try await postgres.query("""
            SELECT (extract(epoch FROM at) * 1000)::bigint, ip, user_agent, success, reason FROM exchange_user.login_history
            WHERE user_id = \(id) ORDER BY id DESC LIMIT \(limit)
            """, logger: logger).decode((Int64, String, String, Bool, String).self) {
            records.append(.object([
                ("time", .integer(time)), ("ip", .string(ip)), ("userAgent", .string(agent)), ("success", .bool(success)), ("reason", .string(reason)),
            ]))
        }
        return records
    }

    /// Locks (`frozen`) or unlocks a user; a lock also ends their sessions. False if no such user.
    func setLocked(_ id: Int64, _ locked: Bool, nowSeconds: Int64) async throws -> Bool {
        var found = false
        for try await _ in try await postgres.query("""
            UPDATE exchange_user.users SET frozen = \(locked), failed_logins = 0, locked_until = NULL WHERE user_id = \(id) RETURNING 1
            """, logger: logger) { found = true }
        if found, locked { try await endSessions(id, nowSeconds: nowSeconds) }
        return found
    }

    /// Revokes every refresh token and every access token issued until now.
    func endSessions(_ id: Int64, nowSeconds: Int64) async throws {
        try await postgres.query("""
            UPDATE exchange_user.refresh_tokens SET revoked_at = now() WHERE user_id = \(id) AND revoked_at IS NULL
            """, logger: logger)
        try await postgres.query("UPDATE exchange_user.users SET sessions_after = \(nowSeconds) WHERE user_id = \(id)", logger: logger)
        // Kept as long as any access token issued before could live (a day is far above their lifetime).
        _ = try await redis.send(["SET", SessionRevocation.sessionsAfterKey(user: UInt64(bitPattern: id)), String(nowSeconds), "EX", "86400"])
    }

    /// Clears the user's second factor (they log in with a password and may enroll again).
    /// False if no such user.
    func resetSecondFactor(_ id: Int64) async throws -> Bool {
        for try await _ in try await postgres.query("""
            UPDATE exchange_user.users SET totp_enabled = false, totp_secret = NULL WHERE user_id = \(id) RETURNING 1
            """, logger: logger) { return true }
        return false
    }

    /// Disables one of the user's keys; false if the user has no such key.
    func disableKey(_ apiKey: String, of id: Int64) async throws -> Bool {
        for try await _ in try await postgres.query("""
            UPDATE exchange_user.api_keys SET enabled = false WHERE api_key = \(apiKey) AND user_id = \(id) RETURNING 1
            """, logger: logger) { return true }
        return false
    }
}
