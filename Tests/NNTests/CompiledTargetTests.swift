import Foundation
import NN
import XCTest

/// The CPU the Swift code was compiled for (Package.swift's `targetCPU`): one this CPU runs,
/// and by default the most this CPU has.
final class CompiledTargetTests: XCTestCase {
    func testThisCPUHasEverythingTheBuildUses() {
        XCTAssertTrue(["x86-64", "haswell", "skylake-avx512"].contains(CompiledTarget.cpu), CompiledTarget.cpu)
        XCTAssertNil(CompiledTarget.missingFeature, "compiled for \(CompiledTarget.cpu)")
    }

    /// Without `IES_TARGET_CPU`, the build is for the best level this machine's flags allow
    /// (the tests are built and run on the same machine).
    func testTheDefaultIsTheMostThisCPUHas() throws {
        #if arch(x86_64) && os(Linux)
        if let chosen = ProcessInfo.processInfo.environment["IES_TARGET_CPU"], !chosen.isEmpty {
            XCTAssertEqual(CompiledTarget.cpu, chosen)
            return
        }
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(separator: " ").map(String.init))
        let avx2 = ["avx2", "fma", "bmi1", "bmi2", "abm", "popcnt", "f16c", "movbe"].allSatisfy(flags.contains)
        let avx512 = avx2 && ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains)
        XCTAssertEqual(CompiledTarget.cpu, avx512 ? "skylake-avx512" : avx2 ? "haswell" : "x86-64")
        print("compiled for \(CompiledTarget.cpu)")
        #endif
    }
}
