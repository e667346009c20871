import ExchangeOps
import Foundation
import Synchronization

/// The secrets of a cluster `up` runs, each made once from the system's random generator in
/// its own file (mode 600, directory 700), so none appears in a command line or an
/// environment listing: the gateway's two keys (EXCHANGE_MASTER_KEY_FILE,
/// EXCHANGE_TOKEN_KEY_FILE), the internal token (EXCHANGE_INTERNAL_TOKEN_FILE) that ops
/// endpoints ask for, and `up`'s Redis's password (EXCHANGE_REDIS_PASSWORD_FILE): a secret of
/// its own, since whoever may scrape metrics (the token) must not write the logs.
enum ClusterSecrets {
    struct Files {
        var masterKeyFile: String
        var tokenKeyFile: String
        var internalTokenFile: String
        var redisPasswordFile: String
    }

    /// The secret files in `directory`, made if missing: 32 random bytes each, in hex.
    static func ensure(in directory: String) throws -> Files {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let files = Files(
            masterKeyFile: directory + "/master.key", tokenKeyFile: directory + "/token.key", internalTokenFile: directory + "/internal.token",
            redisPasswordFile: directory + "/redis.password")
        for path in [files.masterKeyFile, files.tokenKeyFile, files.internalTokenFile, files.redisPasswordFile] where !FileManager.default.fileExists(atPath: path) {
            var generator = SystemRandomNumberGenerator()
            let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            guard FileManager.default.createFile(atPath: path, contents: Data((hex + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw LaunchError("cannot write \(path)")
            }
        }
        return files
    }

    /// The first SuperAdmin's password file in `directory`, made if missing (24 random
    /// bytes in hex; mode 600).
    static func ensureStaffPassword(in directory: String) throws -> String {
        let path = directory + "/admin.password"
        if !FileManager.default.fileExists(atPath: path) {
            var generator = SystemRandomNumberGenerator()
            let hex = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            guard FileManager.default.createFile(atPath: path, contents: Data((hex + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw LaunchError("cannot write \(path)")
            }
        }
        return path
    }

    /// The wallet's secrets in `directory`, made if missing: the hot wallet's key (32 random
    /// bytes in hex, mode 600) and the deposit addresses' BIP-32 seed with its xpub (by
    /// `exchange chain keygen`, through `keygen`). Returns (hot key file, xpub file).
    static func ensureWallet(in directory: String, keygen: ([String]) async throws -> Void) async throws -> (hotKey: String, xpub: String) {
        let hotKey = directory + "/hot-wallet.key", seed = directory + "/deposit.seed", xpub = directory + "/deposit.xpub"
        if !FileManager.default.fileExists(atPath: hotKey) {
            var generator = SystemRandomNumberGenerator()
            let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            guard FileManager.default.createFile(atPath: hotKey, contents: Data((hex + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw LaunchError("cannot write \(hotKey)")
            }
        }
        if !FileManager.default.fileExists(atPath: seed) { try await keygen(["chain", "keygen", "--out", seed, "--xpub-out", xpub]) }
        return (hotKey, xpub)
    }

    /// The secret in `file` (`SecretFile`).
    static func read(_ file: String) throws -> String {
        guard let secret = SecretFile.read(file) else { throw LaunchError("cannot read \(file)") }
        return secret
    }
}

/// The local servers `up` started, each handed out once for stopping.
final class ServerSet: Sendable {
    private let servers = Mutex<(redis: LocalRedis?, postgres: LocalPostgres?)>((nil, nil))

    func setRedis(_ server: LocalRedis) { servers.withLock { $0.redis = server } }
    func setPostgres(_ server: LocalPostgres) { servers.withLock { $0.postgres = server } }
    func takeRedis() -> LocalRedis? {
        servers.withLock { servers in
            defer { servers.redis = nil }
            return servers.redis
        }
    }

    func takePostgres() -> LocalPostgres? {
        servers.withLock { servers in
            defer { servers.postgres = nil }
            return servers.postgres
        }
    }
}
