import Foundation
import TestSupport
import XCTest

/// Runs `ies-testbed mpi-selftest` under `mpirun` with several world sizes. Every
/// spawned process has a timeout; on expiry the whole launch (mpirun and its
/// ranks) is killed and the test fails instead of stalling.
final class MPIRunTests: XCTestCase {
    static let timeout: Double = 60

    func testOneRank() throws { try runSelfTest(ranks: 1) }
    func testTwoRanks() throws { try runSelfTest(ranks: 2) }
    func testFourRanks() throws { try runSelfTest(ranks: 4) }

    func testHangCheckThreeRanks() throws {
        let result = try runSelfTest(ranks: 3, ["--hang-check"])
        // Six staggers of up to 0.4 s each: the run cannot be instant.
        XCTAssertGreaterThan(result.seconds, 2.4)
    }

    func testWithoutMPIRunIsASingleton() throws {
        let result = try Subprocess.run(try BuiltProducts.require("ies-testbed"), ["mpi-selftest"], timeout: Self.timeout)
        report("singleton", result)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "mpi-selftest ok rank 0 of 1 local 0/1\n")
    }

    /// Bad calls throw DistributedError naming the call, on every rank, and
    /// the communicator keeps working; one error (truncation) comes from MPI itself.
    func testErrorPathsDoNotHang() throws {
        for ranks in [1, 3] {
            let result = try runSelfTest(ranks: ranks, ["--error-check"])
            let caught = result.stdout.split(separator: "\n").filter { $0.hasPrefix("mpi-selftest caught: ") }
            for rank in 0..<ranks {
                for expected in [
                    "MPI_Bcast failed on rank \(rank): MPI_ERR_ROOT: invalid root",
                    "MPI_Gatherv failed on rank \(rank): MPI_ERR_ROOT",
                    "MPI_Send failed on rank \(rank): MPI_ERR_RANK",
                    "MPI_Send failed on rank \(rank): MPI_ERR_TAG",
                    "MPI_Allreduce failed on rank \(rank): MPI_ERR_COUNT",
                    "MPI_Mrecv failed on rank \(rank): MPI_ERR_TRUNCATE",
                    // From MPI_Recv's own return code and MPI_Error_string.
                    "MPI_Recv failed on rank \(rank): MPI_ERR_TRUNCATE: message truncated",
                    "MPI_Barrier failed on rank \(rank): MPI_ERR_OTHER: known error not in list (called after finalize())",
                ] {
                    XCTAssertTrue(
                        caught.contains { $0.dropFirst("mpi-selftest caught: ".count).hasPrefix(expected) },
                        "-np \(ranks): missing '\(expected)' in\n\(result.stdout)")
                }
            }
        }
    }

    /// A mismatch on one rank makes every rank exit 1 (and print no "ok").
    func testMismatchOnOneRankFailsTheRun() throws {
        let result = try mpirun(ranks: 3, ["--fail-on-rank", "1"])
        report("mismatch -np 3", result)
        XCTAssertEqual(result.status, 1)
        XCTAssertFalse(result.stdout.contains("mpi-selftest ok"), result.stdout)
        XCTAssertTrue(result.stderr.contains("rank 1 of 3: MISMATCH deliberate mismatch"), result.stderr)
    }

    /// abort(code:) on one rank ends the ranks waiting for it in a collective.
    func testAbortEndsEveryRank() throws {
        let result = try mpirun(ranks: 3, ["--abort-on-rank", "2"])
        report("abort -np 3", result)
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertFalse(result.stdout.contains("mpi-selftest ok"), result.stdout)
    }

    /// The harness itself: a rank that never arrives is killed, with its
    /// launcher and the ranks spinning in the collective, at the timeout.
    func testHangIsKilledAtTheTimeout() throws {
        let arguments = MPIRun.options(ranks: 2) + [try BuiltProducts.require("ies-testbed"), "mpi-selftest", "--hang-on-rank", "1"]
        let result = try Subprocess.run(try MPIRun.launcher(), arguments, timeout: 4)
        print(String(format: "mpi-selftest hang -np 2: killed=%d exit %d in %.2f s", result.timedOut ? 1 : 0, result.status, result.seconds))
        XCTAssertTrue(result.timedOut, "expected a timeout; got exit \(result.status)\n\(result.stderr)")
        XCTAssertLessThan(result.seconds, 15)
        XCTAssertTrue(result.leftovers.isEmpty, "processes left behind: \(result.leftovers)")
    }

    // MARK: - Helpers

    @discardableResult
    private func runSelfTest(ranks: Int, _ options: [String] = []) throws -> Subprocess.Result {
        let result = try mpirun(ranks: ranks, options)
        report("-np \(ranks) \(options.joined(separator: " "))", result)
        XCTAssertEqual(result.status, 0, "mpirun -np \(ranks) failed:\n\(result.stdout)\n\(result.stderr)")
        let ok = result.stdout.split(separator: "\n").filter { $0.hasPrefix("mpi-selftest ok ") }
        XCTAssertEqual(ok.count, ranks, result.stdout)
        var seen: [Int] = []
        for line in ok {
            // "mpi-selftest ok rank R of S local L/LS"
            let words = line.split(separator: " ")
            guard words.count == 8, let rank = Int(words[3]), let size = Int(words[5]) else {
                XCTFail("unexpected line: \(line)")
                continue
            }
            let local = words[7].split(separator: "/").compactMap { Int($0) }
            XCTAssertEqual(size, ranks, String(line))
            XCTAssertTrue(local.count == 2 && local[0] < local[1] && local[1] <= ranks, String(line))
            seen.append(rank)
        }
        XCTAssertEqual(seen.sorted(), Array(0..<ranks), "each rank must report ok exactly once")
        return result
    }

    private func mpirun(ranks: Int, _ options: [String]) throws -> Subprocess.Result {
        try MPIRun.run(ranks: ranks, [try BuiltProducts.require("ies-testbed"), "mpi-selftest"] + options, timeout: Self.timeout)
    }

    private func report(_ what: String, _ result: Subprocess.Result) {
        print(String(format: "mpi-selftest %@: exit %d in %.2f s", what, result.status, result.seconds))
        if result.timedOut {
            XCTFail("\(what): timed out after \(Self.timeout) s and was killed\n\(result.stdout)\n\(result.stderr)")
        }
    }
}
