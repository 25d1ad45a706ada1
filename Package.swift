// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "pgha",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "RaftSim", targets: ["RaftSim"]),
        .library(name: "PGNode", targets: ["PGNode"]),
        .executable(name: "pgha", targets: ["pgha"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The consensus core: pure, no I/O, no dependencies.
        .target(name: "RaftCore"),
        // Deterministic simulator and checkers for RaftCore.
        .target(name: "RaftSim", dependencies: ["RaftCore"]),
        // Everything with effects: Postgres control, runtime, transport (grows with later issues).
        .target(name: "PGNode", dependencies: ["RaftCore", "CLibPQ"]),
        .executableTarget(name: "pgha", dependencies: [
            "PGNode", "RaftCore", "RaftSim",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer entry points; see README "Fuzzing".
        .executableTarget(name: "RaftFuzz", dependencies: ["RaftCore", "RaftSim"]),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore"]),
        .testTarget(name: "RaftSimTests", dependencies: ["RaftSim", "RaftCore"]),
        .testTarget(name: "PGNodeTests", dependencies: ["PGNode"]),
    ]
)
