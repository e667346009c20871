// swift-tools-version: 6.1
import PackageDescription

/// package-benchmark suites for OpenExchange, kept out of the root package so that building
/// or testing the exchange never fetches or compiles the benchmark tooling.
///
/// Run from this directory (see README.md): `swift package benchmark`.
let package = Package(
    name: "OpenExchangeBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "OpenExchange", path: ".."),
        // Only the MallocInterposer trait: it provides the malloc counters. The default trait
        // set also enables RuntimeInterposer, whose package is not available here.
        .package(url: "https://github.com/ordo-one/package-benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MatchingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "ExchangeCore", package: "OpenExchange"),
                .product(name: "ExchangeMatching", package: "OpenExchange"),
                .product(name: "ExchangeOrderFlow", package: "OpenExchange"),
            ],
            path: "Benchmarks/MatchingBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "package-benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
