// swift-tools-version: 6.1
import PackageDescription

/// OpenExchange: one package, one `exchange` binary whose subcommands are the roles.
/// Pure modules (Core, Matching) import nothing but the standard library and each other;
/// I/O lives at the edges (Snapshots, OrderFlow's file tools, Command).
let package = Package(
    name: "OpenExchange",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "exchange", targets: ["ExchangeCommand"]),
        .library(name: "ExchangeCore", targets: ["ExchangeCore"]),
        .library(name: "ExchangeMatching", targets: ["ExchangeMatching"]),
        .library(name: "ExchangeCluster", targets: ["ExchangeCluster"]),
        .library(name: "ExchangeReplication", targets: ["ExchangeReplication"]),
        .library(name: "ExchangeRedis", targets: ["ExchangeRedis"]),
        .library(name: "ExchangeSnapshots", targets: ["ExchangeSnapshots"]),
        .library(name: "ExchangeOrderFlow", targets: ["ExchangeOrderFlow"]),
        .library(name: "ExchangeTesting", targets: ["ExchangeTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP over HTTP/protobuf only: the gRPC exporter would cost minutes of build for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(name: "ExchangeCore"),
        .target(name: "CPrefetch"),
        .target(name: "CAffinity"),
        .target(name: "CParentDeath"),
        .target(name: "ExchangeMatching", dependencies: ["ExchangeCore", "CPrefetch"]),
        .target(name: "ExchangeCluster", dependencies: ["ExchangeCore"]),
        .target(name: "ExchangeReplication", dependencies: ["ExchangeCore"]),
        .target(name: "ExchangeChain"),
        .target(name: "ExchangeWallet", dependencies: ["ExchangeChain"]),
        .systemLibrary(name: "CSecp256k1", pkgConfig: "libsecp256k1", providers: [.apt(["libsecp256k1-dev"])]),
        .target(
            name: "ExchangeWalletStore",
            dependencies: [
                "ExchangeWallet", "ExchangeChain", "ExchangeEthereum", "ExchangePostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ExchangeWalletService",
            dependencies: [
                "ExchangeWallet", "ExchangeWalletStore", "ExchangeChain", "ExchangeClearing", "ExchangeCluster", "ExchangeClusterClient", "ExchangeClusterStore",
                "ExchangeCore", "ExchangeRedis", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "ExchangeEthereum", dependencies: ["ExchangeChain", "CSecp256k1", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "ExchangeEthereumRPC",
            dependencies: [
                "ExchangeChain", .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "ExchangeThreads"),
        .target(
            name: "ExchangeTracing",
            dependencies: ["ExchangeCore", "ExchangeReplication", .product(name: "Tracing", package: "swift-distributed-tracing")]
        ),
        .target(name: "ExchangeRedis", dependencies: ["CHiredis", "ExchangeCore", "ExchangeReplication", "ExchangeThreads"]),
        .target(
            name: "ExchangeReplicaRuntime",
            dependencies: [
                "ExchangeCore", "ExchangeReplication", "ExchangeRedis", "ExchangeSnapshots", "ExchangeThreads", "CAffinity", "ExchangeMetrics",
                "ExchangeTracing", .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "ExchangeClusterStore", dependencies: ["ExchangeCluster", "ExchangeRedis"]),
        .target(
            name: "ExchangeClusterClient",
            dependencies: [
                "ExchangeCore", "ExchangeCluster", "ExchangeClusterStore", "ExchangeRedis", "ExchangeReplication", "ExchangeMatcher",
                "ExchangeClearing",
            ]
        ),
        .target(name: "ExchangeAccess", dependencies: ["ExchangeCore", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "ExchangeHTTPAPI",
            dependencies: [
                "ExchangeAccess", "ExchangeCore", "ExchangeRedis",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "ExchangeMarketData", dependencies: ["ExchangeCore"]),
        .target(
            name: "ExchangeMarketDataService",
            dependencies: [
                "ExchangeMarketData", "ExchangeHTTPAPI", "ExchangeCore", "ExchangeCluster", "ExchangeClusterStore", "ExchangeClusterClient",
                "ExchangeOps", "ExchangeMetrics", .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                "ExchangeRedis", "ExchangeReplication", "ExchangeMatcher", "ExchangeMatching", "ExchangeSnapshots",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSCompression", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ExchangeGateway",
            dependencies: [
                "ExchangeAccess", "ExchangeClusterClient", "ExchangeCore", "ExchangeCluster", "ExchangeClusterStore", "ExchangeRedis",
                "ExchangeReplication", "ExchangeMatcher", "ExchangeClearing", "ExchangePostgres", "ExchangeHTTPAPI", "ExchangeTracing", "ExchangeWebUI",
                "ExchangeWallet", "ExchangeWalletStore",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "ExchangeWebUI", dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types")]),
        .target(
            name: "ExchangeAdmin",
            dependencies: [
                "ExchangeAccess", "ExchangeClusterClient", "ExchangeCluster", "ExchangeClusterStore", "ExchangeCore", "ExchangeClearing",
                "ExchangeRedis", "ExchangeReplication", "ExchangePostgres", "ExchangeHTTPAPI", "ExchangeWebUI", "ExchangeWallet", "ExchangeWalletStore",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ExchangeClusterTools",
            dependencies: [
                "ExchangeCore", "ExchangeOrderFlow", "ExchangeCluster", "ExchangeClusterStore", "ExchangeClusterClient", "ExchangeRedis",
                "ExchangeReplication", "ExchangeMatcher", "ExchangeSnapshots", "ExchangeClearing", "ExchangeOrderPath",
                "ExchangeClearingPartition", "ExchangePostgres", "ExchangeReplicaRuntime", "ExchangeBench", "ExchangeAccess",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOWebSocket", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "ExchangeMetrics", dependencies: [.product(name: "CoreMetrics", package: "swift-metrics")]),
        .target(
            name: "ExchangeOps",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), "ExchangeTracing",
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(name: "ExchangeLogging", dependencies: ["ExchangeCore", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "ExchangeLauncher",
            dependencies: [
                "CParentDeath", "ExchangeCluster", "ExchangeClusterStore", "ExchangeOps", "ExchangeRedis",
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(name: "ExchangeClearing", dependencies: ["ExchangeCore"]),
        .target(
            name: "ExchangePostgres",
            dependencies: [
                "ExchangeAccess", "ExchangeClearing", "ExchangeCore", "ExchangeMatcher",
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "ExchangeOrderPath", dependencies: ["ExchangeClearing", "ExchangeCluster", "ExchangeCore", "ExchangeMatcher"]),
        .target(name: "ExchangeClearingPartition", dependencies: ["ExchangeClearing", "ExchangeCore", "ExchangeReplication"]),
        .target(name: "ExchangeMatcher", dependencies: ["ExchangeCore", "ExchangeCluster", "ExchangeMatching", "ExchangeReplication"]),
        .target(name: "ExchangeSnapshots", dependencies: ["ExchangeCore", "CZstd"]),
        .target(
            name: "ExchangeOrderFlow",
            dependencies: ["ExchangeCore", "ExchangeMatching"]
        ),
        .target(
            name: "ExchangeTesting",
            dependencies: ["ExchangeCore", "ExchangeMatching", "ExchangeOrderFlow"]
        ),
        .target(
            name: "ExchangeBench",
            dependencies: [
                "ExchangeCore", "ExchangeMatching", "ExchangeSnapshots", "ExchangeOrderFlow",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "ExchangeCommand",
            dependencies: [
                "ExchangeCore", "ExchangeMatching", "ExchangeOrderFlow", "ExchangeBench", "ExchangeCluster",
                "ExchangeClusterStore", "ExchangeClusterClient", "ExchangeRedis", "ExchangeReplication", "ExchangeReplicaRuntime", "ExchangeMatcher",
                "ExchangeClusterTools", "ExchangeOps", "ExchangeGateway", "ExchangeAdmin", "ExchangeEthereum", "ExchangeEthereumRPC", "ExchangeChain", "ExchangeWallet", "ExchangeWalletStore", "ExchangeWalletService", "ExchangeAccess", "ExchangeMarketDataService",
                "ExchangeClearing", "ExchangeClearingPartition", "ExchangePostgres", "ExchangeLauncher", "ExchangeLogging", "ExchangeMetrics",
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(name: "ExchangeCoreTests", dependencies: ["ExchangeCore"]),
        .testTarget(name: "ExchangeTracingTests", dependencies: ["ExchangeTracing", "ExchangeReplication"]),
        .testTarget(name: "ExchangeLauncherTests", dependencies: ["ExchangeLauncher"]),
        .testTarget(name: "ExchangeLoggingTests", dependencies: ["ExchangeLogging", "ExchangeCore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ExchangeAccessTests", dependencies: ["ExchangeAccess"]),
        .testTarget(name: "ExchangeMarketDataTests", dependencies: ["ExchangeMarketData", "ExchangeCore", "ExchangeMatching", "ExchangeOrderFlow", "ExchangeTesting"]),
        .testTarget(
            name: "ExchangeGatewayTests",
            dependencies: [
                "ExchangeGateway", "ExchangeAccess", "ExchangeClearing", "ExchangeCluster", "ExchangeClusterClient", "ExchangeClusterStore", "ExchangeCore",
                "ExchangeHTTPAPI", "ExchangeMatcher", "ExchangePostgres", "ExchangeRedis", "ExchangeReplication",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ExchangeClusterTests", dependencies: ["ExchangeCluster", "ExchangeCore"]),
        .testTarget(name: "ExchangeChainTests", dependencies: ["ExchangeChain"]),
        .testTarget(
            name: "ExchangeWalletServiceTests",
            dependencies: [
                "ExchangeWalletService", "ExchangeWalletStore", "ExchangeWallet", "ExchangeChain", "ExchangeEthereum", "ExchangeClearing",
                "ExchangeClearingPartition", "ExchangeCluster", "ExchangeClusterClient", "ExchangeClusterStore", "ExchangeClusterTools", "ExchangeCore",
                "ExchangePostgres", "ExchangeRedis", "ExchangeReplicaRuntime", "ExchangeReplication", "ExchangeTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ExchangeWalletTests", dependencies: ["ExchangeWallet", "ExchangeChain"]),
        .testTarget(name: "ExchangeEthereumTests", dependencies: ["ExchangeEthereum", "ExchangeChain"]),
        .testTarget(name: "ExchangeReplicationTests", dependencies: ["ExchangeReplication"]),
        .testTarget(name: "ExchangeRedisTests", dependencies: ["ExchangeRedis", "ExchangeReplication", "ExchangeThreads", "ExchangeTesting"]),
        .testTarget(
            name: "ExchangeClusterToolsTests",
            dependencies: [
                "ExchangeClusterTools", "ExchangeCluster", "ExchangeClusterStore", "ExchangeClusterClient", "ExchangeCore", "ExchangeMatcher", "ExchangeOrderFlow",
                "ExchangeRedis", "ExchangeReplicaRuntime", "ExchangeReplication", "ExchangeClearing", "ExchangeClearingPartition",
                "ExchangePostgres", "ExchangeHTTPAPI", "ExchangeTesting", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ExchangeOpsTests",
            dependencies: [
                "ExchangeOps", "ExchangeMetrics", "ExchangeTesting", "ExchangeTracing", "ExchangeReplication",
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ExchangeClearingTests", dependencies: ["ExchangeClearing", "ExchangeCore", "ExchangeOrderFlow"]),
        .testTarget(
            name: "ExchangePostgresTests",
            dependencies: [
                "ExchangePostgres", "ExchangeClearing", "ExchangeCore",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ExchangeOrderPathTests",
            dependencies: [
                "ExchangeOrderPath", "ExchangeClearing", "ExchangeClearingPartition", "ExchangeCluster", "ExchangeCore", "ExchangeMatcher",
                "ExchangeOrderFlow", "ExchangeReplication", "ExchangeTesting",
            ]
        ),
        .testTarget(
            name: "ExchangeClearingPartitionTests",
            dependencies: [
                "ExchangeClearingPartition", "ExchangeClearing", "ExchangeCore", "ExchangeReplication", "ExchangeReplicaRuntime", "ExchangeRedis",
                "ExchangeTesting",
            ]
        ),
        .testTarget(
            name: "ExchangeMatcherTests",
            dependencies: ["ExchangeMatcher", "ExchangeMatching", "ExchangeCore", "ExchangeReplication", "ExchangeTesting", "ExchangeSnapshots"]
        ),
        .testTarget(
            name: "ExchangeReplicaRuntimeTests",
            dependencies: ["ExchangeReplicaRuntime", "ExchangeMatcher", "ExchangeRedis", "ExchangeReplication", "ExchangeCore", "ExchangeMatching", "ExchangeTesting", "CAffinity"]
        ),
        .testTarget(
            name: "ExchangeMatchingTests",
            dependencies: ["ExchangeCore", "ExchangeMatching", "ExchangeTesting"]
        ),
        .testTarget(
            name: "ExchangeSnapshotsTests",
            dependencies: ["ExchangeCore", "ExchangeMatching", "ExchangeSnapshots", "ExchangeTesting"]
        ),
        .testTarget(
            name: "ExchangeOrderFlowTests",
            dependencies: ["ExchangeCore", "ExchangeMatching", "ExchangeOrderFlow"]
        ),
        .testTarget(
            name: "ExchangeCommandTests",
            dependencies: ["ExchangeCommand", "ExchangeTesting"]
        ),
        .testTarget(name: "ExchangeBenchTests", dependencies: ["ExchangeBench", "ExchangeOrderFlow"]),
        .testTarget(
            name: "ExchangeTestingTests",
            dependencies: ["ExchangeCore", "ExchangeMatching", "ExchangeTesting", "ExchangeOrderFlow"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
