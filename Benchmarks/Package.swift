// swift-tools-version: 6.1
// Micro-benchmarks for RaftCore, kept in their own package so the benchmark dependencies
// (ordo-one/benchmark and its plugin) stay out of the root package's builds.
// Run: cd Benchmarks && swift package benchmark --no-progress   (see README.md)
import PackageDescription

let package = Package(
    name: "pgha-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "pgha", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RaftBenchmarks",
            dependencies: [
                .product(name: "RaftCore", package: "pgha"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "RaftBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
