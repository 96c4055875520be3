// swift-tools-version:6.0
// `ies`: instance-dependent early stopping (Yuan et al., ICLR 2025) as a
// data-parallel trainer over MPI. See README.md and ARCHITECTURE.md.
import PackageDescription

import Foundation

// MARK: - The CPU the Swift code is compiled for

/// The x86-64 level our Swift code is compiled for: `IES_TARGET_CPU` in the environment of
/// `swift build` (`x86-64`: any x86-64 CPU; `haswell`: AVX2, FMA, BMI2; `skylake-avx512`:
/// AVX-512 as well), or by default the most the build machine's CPU has. Swift code compiled
/// for baseline x86-64 runs its SIMD types on 4-float SSE registers; compiled for the CPU it
/// uses 8 or 16 floats per instruction, with the same results bit for bit (Swift never fuses
/// a multiply and an add by itself). The `CPUTarget` module stops a binary on a CPU that
/// lacks the instructions, with a message, before any of this code runs.
let targetCPU: String = {
    let levels = ["x86-64", "haswell", "skylake-avx512"]
    if let chosen = ProcessInfo.processInfo.environment["IES_TARGET_CPU"], !chosen.isEmpty {
        guard levels.contains(chosen) else {
            fatalError("IES_TARGET_CPU=\(chosen): expected one of \(levels.joined(separator: ", "))")
        }
        return chosen
    }
    #if arch(x86_64) && os(Linux)
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return "x86-64" }
    let flags = Set(line.split(separator: " ").map(String.init))
    let haswell: Set = ["avx2", "fma", "bmi1", "bmi2", "abm", "popcnt", "f16c", "movbe"]
    let avx512: Set = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
    return flags.isSuperset(of: haswell.union(avx512)) ? "skylake-avx512" : flags.isSuperset(of: haswell) ? "haswell" : "x86-64"
    #else
    return "x86-64"  // Other architectures: the compiler's default for the platform.
    #endif
}()

// MARK: - Shared settings

/// Numeric code is only fast with optimization; `-Ounchecked` is not used so
/// that array bounds stay checked outside the raw-pointer kernels.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
] + (targetCPU == "x86-64" ? [] : [.unsafeFlags(["-target-cpu", targetCPU])])

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "ies",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ies", targets: ["ies"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Mastery", targets: ["Mastery"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Report", targets: ["Report"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - C system libraries

        .systemLibrary(
            name: "CBLAS", path: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // libxsmm's run-time generated small-GEMM kernels (static library, no pkg-config).
        .systemLibrary(
            name: "CXSMM", path: "CXSMM",
            providers: [.apt(["libxsmm-dev"])]),
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

        .target(name: "DurableIO", swiftSettings: swiftSettings),
        // The run directory: its file names, metrics.jsonl, checkpoints' meta.json and
        // checksums, the run's identity, "the newest valid checkpoint". Below Training and Report.
        .target(name: "RunFormat", dependencies: ["DurableIO", "CCrypto"], swiftSettings: swiftSettings),
        .target(name: "SafeTensors", dependencies: ["DurableIO"], swiftSettings: swiftSettings),
        // C, compiled for any x86-64: which CPU the Swift code is for, and the check that this
        // CPU has it, run before main.
        .target(
            name: "CPUTarget",
            cSettings: targetCPU == "x86-64" ? [] : [.define("IES_TARGET_" + targetCPU.uppercased().replacingOccurrences(of: "-", with: "_"))]),
        .target(name: "NN", dependencies: ["CBLAS", "CXSMM", "CPUTarget"], swiftSettings: swiftSettings),
        .target(name: "Datasets", dependencies: ["CZlib"], swiftSettings: swiftSettings),
        .target(name: "Mastery", swiftSettings: swiftSettings),
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: swiftSettings),
        .target(
            name: "Training",
            dependencies: ["NN", "SafeTensors", "DurableIO", "RunFormat", "Datasets", "Mastery", "Distributed", "Report"],
            swiftSettings: swiftSettings),
        // `ies bench`: sgemm, layer, step, tracker, rebalance-plan and checkpoint timings.
        .target(
            name: "Benchmarks", dependencies: ["Training", "RunFormat", "NN", "Datasets", "Mastery"],
            swiftSettings: swiftSettings),
        // Reads run directories (metrics.jsonl, meta.json) and writes HTML reports and
        // TensorBoard event files; Foundation only, so the trainer can depend on it.
        .target(name: "Report", dependencies: ["RunFormat", "DurableIO"], swiftSettings: swiftSettings),

        // MARK: - Command line

        .executableTarget(
            name: "ies",
            dependencies: [
                "Training", "Benchmarks", "RunFormat", "NN", "Datasets", "Mastery", "Distributed", "Report", "DurableIO",
                argumentParser,
            ],
            swiftSettings: swiftSettings),

        // MARK: - Tests

        // Test helpers every test target may use: Foundation and XCTest only (processes with
        // deadlines, the built products, temporary directories, mpirun, python3, isolation).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Helpers for tests of NN: the finite-difference gradient checker and `LayerHarness`.
        .target(name: "NNTestSupport", dependencies: ["NN", "TestSupport"], path: "Tests/NNTestSupport"),
        /// Test-only executable run under mpirun by the tests: the MPI self-test and
        /// training with injected faults. Not a product; never part of `ies`.
        .executableTarget(
            name: "ies-testbed", dependencies: ["Distributed", "Training", "Mastery", "Datasets", "NN", "SafeTensors", argumentParser],
            path: "Tests/TestBed", swiftSettings: swiftSettings),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport", "NNTestSupport"]),
        .testTarget(
            name: "SafeTensorsTests", dependencies: ["SafeTensors", "DurableIO", "TestSupport"], exclude: ["safetensors_check.py"]),
        .testTarget(
            name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"],
            exclude: ["cifar_convert_check.py", "npy_convert_check.py"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "MasteryTests", dependencies: ["Mastery"]),
        .testTarget(name: "RunFormatTests", dependencies: ["RunFormat", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "Training", "Benchmarks", "RunFormat", "Report", "NN", "SafeTensors", "Datasets", "Mastery", "Distributed",
                "TestSupport", "NNTestSupport",
            ],
            exclude: ["numpy_reference.py"]),
        // Multi-host runs on network namespaces (scripts/cluster-sim): spawns cluster-sim and
        // the built `ies`, links no library of ours but TestSupport. Needs root; skips where
        // namespaces are unavailable.
        .testTarget(name: "ClusterTests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "ReportTests", dependencies: ["Report", "RunFormat", "CZlib", "TestSupport"],
            exclude: ["read_events.py"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
