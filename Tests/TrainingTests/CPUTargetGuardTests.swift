import Foundation
import NN
import TestSupport
import XCTest

/// A build for a CPU level this CPU does not have stops before main with a message naming the
/// missing extension (the `CPUTarget` module), not with SIGILL somewhere in a run. Checked by
/// running the built `ies` under QEMU's user-mode emulation of a lower CPU (Debian's
/// qemu-user), as no real machine can be made to lack its own instructions.
final class CPUTargetGuardTests: XCTestCase {
    func testABuildForABetterCPUStopsAtOnceWithAMessage() throws {
        let lower: (qemuCPU: String, missing: String)
        switch CompiledTarget.cpu {
        case "skylake-avx512": lower = ("Haswell", "avx512f")
        case "haswell": lower = ("Nehalem", "avx2")
        default: throw XCTSkip("built for any x86-64 CPU (\(CompiledTarget.cpu)): there is no lower CPU to refuse")
        }
        let qemu = try ExternalTool.require("qemu-x86_64", hint: "apt-get install qemu-user; scripts/install-deps.sh")
        let ies = try BuiltProducts.require("ies")
        let result = try Subprocess.run(qemu, ["-cpu", lower.qemuCPU, ies, "--help"], timeout: 120)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(
            result.stderr.contains("compiled for \(CompiledTarget.cpu) CPUs, and this CPU lacks \(lower.missing)"),
            result.stderr)
        XCTAssertTrue(result.stderr.contains("IES_TARGET_CPU=x86-64"), result.stderr)
        XCTAssertFalse(result.stdout.contains("OVERVIEW"), "main ran: \(result.stdout)")

        // A haswell build under an emulated Haswell runs (QEMU emulates AVX2, not AVX-512).
        if CompiledTarget.cpu == "haswell" {
            let full = try Subprocess.run(qemu, ["-cpu", "Haswell", ies, "--help"], timeout: 120)
            XCTAssertEqual(full.status, 0, full.stderr)
            XCTAssertTrue(full.stdout.contains("OVERVIEW"), full.stdout)
        }
    }
}
