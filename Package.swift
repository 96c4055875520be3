// swift-tools-version:6.0
// `ies`: instance-dependent early stopping (Yuan et al., ICLR 2025) as a
// data-parallel trainer over MPI. See README.md and DESIGN notes in the repo.
import PackageDescription

// MARK: - Shared settings

/// Numeric code is only fast with optimization; `-Ounchecked` is not used so
/// that array bounds stay checked outside the raw-pointer kernels.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "ies",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ies", targets: ["ies"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Mastery", targets: ["Mastery"]),
        .library(name: "Training", targets: ["Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - C system libraries

        .systemLibrary(
            name: "CBLAS", path: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CMPI", path: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "CZlib", path: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CCrypto", path: "CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        // MARK: - Library modules

        .target(name: "NN", dependencies: ["CBLAS"], swiftSettings: swiftSettings),
        .target(name: "Datasets", dependencies: ["CZlib"], swiftSettings: swiftSettings),
        .target(name: "Mastery", swiftSettings: swiftSettings),
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: swiftSettings),
        .target(
            name: "Training", dependencies: ["NN", "Datasets", "Mastery", "Distributed", "CCrypto"],
            swiftSettings: swiftSettings),

        // MARK: - Command line

        .executableTarget(
            name: "ies", dependencies: ["Training", "NN", "Datasets", "Mastery", "Distributed", argumentParser],
            swiftSettings: swiftSettings),

        // MARK: - Tests

        .target(name: "TestSupport", dependencies: ["NN"], path: "Tests/TestSupport"),
        .testTarget(
            name: "NNTests", dependencies: ["NN", "TestSupport"],
            exclude: ["safetensors_check.py"]),
        .testTarget(
            name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"],
            exclude: ["cifar_convert_check.py"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "MasteryTests", dependencies: ["Mastery"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "NN", "Datasets", "Mastery", "Distributed", "TestSupport"],
            exclude: ["pytorch_semantics_check.py", "numpy_reference.py"]),
    ],
    swiftLanguageModes: [.v5]
)
