import Foundation
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The certificate chain and private key an HTTPS/WSS port serves, from PEM files, and
/// re-read when either file changes (`reloadIfChanged`, polled by `TLSCertificateReloader`):
/// a renewed certificate takes effect for new connections without a restart (each handshake
/// asks for the current pair through NIOSSL's context callback); open ones keep theirs.
///
/// Invariant: the pair handed to handshakes always loaded and matched; files that fail to load
/// (half-written, a key that does not match) leave the previous pair in place.
public final class TLSCertificates: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private let state: Mutex<(pair: NIOSSLContextConfigurationOverride, stamp: [Date?])>

    /// Loads both files; throws with the reason if they do not load or do not match.
    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        let stamp = Self.stamp(certificatePath, keyPath)
        state = Mutex((try Self.pair(certificatePath: certificatePath, keyPath: keyPath), stamp))
    }

    /// The server configuration: TLS 1.2 or later, the current pair at every handshake.
    public var configuration: TLSConfiguration {
        let pair = state.withLock { $0.pair }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: pair.certificateChain!, privateKey: pair.privateKey!)
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [self] _, promise in promise.succeed(state.withLock { $0.pair }) }
        return configuration
    }

    /// Reloads if either file's modification time changed since the last load; true if it did.
    /// Throws (keeping the previous pair) if the changed files do not load.
    public func reloadIfChanged() throws -> Bool {
        let stamp = Self.stamp(certificatePath, keyPath)
        guard stamp != state.withLock({ $0.stamp }) else { return false }
        let pair = try Self.pair(certificatePath: certificatePath, keyPath: keyPath)
        state.withLock { $0 = (pair, stamp) }
        return true
    }

    private static func stamp(_ paths: String...) -> [Date?] {
        paths.map { (try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate]) as? Date }
    }

    /// The chain and key from PEM files, checked by building a context from them.
    static func pair(certificatePath: String, keyPath: String) throws -> NIOSSLContextConfigurationOverride {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard !chain.isEmpty else { throw TLSCertificatesError(path: certificatePath, reason: "no certificate in the file") }
        var pair = NIOSSLContextConfigurationOverride()
        pair.certificateChain = chain.map { .certificate($0) }
        pair.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem))
        // NIOSSLContext checks that the key matches the leaf certificate.
        _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: pair.certificateChain!, privateKey: pair.privateKey!))
        return pair
    }
}

/// Why a certificate or key did not load.
public struct TLSCertificatesError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Polls `certificates` every `interval` and swaps in changed files; a `Service` beside the
/// HTTP server.
public struct TLSCertificateReloader: Service {
    public let certificates: TLSCertificates
    public let interval: Duration
    public let logger: Logger

    public init(certificates: TLSCertificates, interval: Duration = .seconds(5), logger: Logger) {
        self.certificates = certificates
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // A graceful shutdown ends the wait at once, not after the interval.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                do {
                    if try certificates.reloadIfChanged() { logger.info("TLS certificate reloaded from \(certificates.certificatePath)") }
                } catch {
                    logger.error("TLS certificate not reloaded, the previous one stays: \(error)")
                }
            }
        }
    }
}

extension HTTPServerBuilder {
    /// `base` behind TLS with `certificates` (reloadable: see `TLSCertificates`).
    public static func tls(_ base: HTTPServerBuilder, certificates: TLSCertificates) throws -> HTTPServerBuilder {
        try .tls(base, tlsConfiguration: certificates.configuration)
    }
}
