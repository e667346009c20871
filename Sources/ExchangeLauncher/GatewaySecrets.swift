import Foundation
import Synchronization

/// The gateway's two keys for a cluster `up` runs: made once from the system's random
/// generator, each in its own file (mode 600, directory 700) that the gateway reads through
/// EXCHANGE_MASTER_KEY_FILE and EXCHANGE_TOKEN_KEY_FILE, so neither appears in a command
/// line or an environment listing.
enum GatewaySecrets {
    struct Files {
        var masterKeyFile: String
        var tokenKeyFile: String
    }

    /// The key files in `directory`, made if missing: 32 random bytes each, in hex.
    static func ensure(in directory: String) throws -> Files {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let files = Files(masterKeyFile: directory + "/master.key", tokenKeyFile: directory + "/token.key")
        for path in [files.masterKeyFile, files.tokenKeyFile] where !FileManager.default.fileExists(atPath: path) {
            var generator = SystemRandomNumberGenerator()
            let hex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            guard FileManager.default.createFile(atPath: path, contents: Data((hex + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw LaunchError("cannot write \(path)")
            }
        }
        return files
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
