// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "pgha",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "RaftSim", targets: ["RaftSim"]),
        .library(name: "HACore", targets: ["HACore"]),
        .library(name: "ClusterStore", targets: ["ClusterStore"]),
        .library(name: "HASim", targets: ["HASim"]),
        .library(name: "PGNode", targets: ["PGNode"]),
        .executable(name: "pgha", targets: ["pgha"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The consensus core: pure, no I/O, no dependencies.
        .target(name: "RaftCore"),
        // Deterministic simulator and checkers for RaftCore.
        .target(name: "RaftSim", dependencies: ["RaftCore"]),
        // The HA decision function and its types: pure, no I/O (the simulator runs it too).
        .target(name: "HACore"),
        // The cluster store's state machine and the HA keys' codec: pure, no I/O.
        .target(name: "ClusterStore", dependencies: ["RaftCore", "HACore"]),
        // Deterministic simulator of whole HA clusters: RaftCore, the store and HACore over a
        // modelled Postgres and network.
        .target(name: "HASim", dependencies: ["RaftCore", "RaftSim", "HACore", "ClusterStore"]),
        // Everything with effects: Postgres control, runtime, transport (grows with later issues).
        .target(name: "PGNode", dependencies: [
            "RaftCore", "HACore", "ClusterStore", "CLibPQ",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "pgha", dependencies: [
            "PGNode", "RaftCore", "RaftSim", "HACore", "HASim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // libFuzzer entry points; see README "Fuzzing".
        .executableTarget(name: "RaftFuzz", dependencies: ["RaftCore", "RaftSim"]),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore"]),
        .testTarget(name: "HACoreTests", dependencies: ["HACore"]),
        .testTarget(name: "RaftSimTests", dependencies: ["RaftSim", "RaftCore"]),
        .testTarget(name: "ClusterStoreTests", dependencies: ["ClusterStore", "HACore", "RaftCore"]),
        .testTarget(name: "HASimTests", dependencies: ["HASim", "HACore"]),
        .testTarget(name: "PGNodeTests", dependencies: [
            "PGNode", "RaftCore", "HACore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
