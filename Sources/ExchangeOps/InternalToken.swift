import Foundation
import HTTPTypes
import Synchronization

/// The shared secret of one cluster's processes: roles ask it of whoever calls their ops
/// endpoints (`Authorization: Bearer TOKEN` on `/health` and `/metrics`: `exchange up`'s
/// health checks, Prometheus), and `exchange up` makes it its Redis's password.
///
/// Read once per process from the file EXCHANGE_INTERNAL_TOKEN_FILE names (its first line,
/// so it stays out of command lines and environment listings), or from
/// EXCHANGE_INTERNAL_TOKEN. Without either, ops endpoints are open (a cluster whose ops
/// ports only its operators reach).
public struct InternalToken: Sendable, Equatable {
    /// Fewer characters than this is refused as guessable.
    public static let minimumLength = 16

    public let value: String

    public init(_ value: String) throws {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= Self.minimumLength, trimmed.utf8.allSatisfy({ (33...126).contains($0) }) else {
            throw InternalTokenError("the internal token must be at least \(Self.minimumLength) printable characters, without spaces")
        }
        self.value = trimmed
    }

    /// The process's token from `environment`, nil when none is set.
    public static func from(environment: [String: String]) throws -> InternalToken? {
        if let path = environment["EXCHANGE_INTERNAL_TOKEN_FILE"], !path.isEmpty {
            guard let text = SecretFile.read(path) else {
                throw InternalTokenError("cannot read the internal token file \(path) (EXCHANGE_INTERNAL_TOKEN_FILE)")
            }
            return try InternalToken(text)
        }
        guard let value = environment["EXCHANGE_INTERNAL_TOKEN"], !value.isEmpty else { return nil }
        return try InternalToken(value)
    }

    /// The `Authorization` header value that carries it.
    public var authorization: String { "Bearer " + value }

    /// Whether `headers` carry this token (compared in constant time).
    public func authorizes(_ headers: HTTPFields) -> Bool {
        guard let given = headers[.authorization], given.hasPrefix("Bearer ") else { return false }
        let presented = Array(given.utf8.dropFirst("Bearer ".count))
        let expected = Array(value.utf8)
        guard presented.count == expected.count else { return false }
        return zip(presented, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

public struct InternalTokenError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
