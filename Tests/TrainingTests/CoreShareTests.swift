import Foundation
import TestSupport
import Training
import XCTest

/// Default threads follow the CPUs a rank may run on (its affinity mask) and how many
/// ranks of its node share them, not the machine's online CPU count.
final class CoreShareTests: RunDirectoryTestCase {
    func testAllowedCPUListsAreParsed() {
        let status = "Name:\ties\nCpus_allowed:\tf0f\nCpus_allowed_list:\t0-3,8,10-11\nMems_allowed:\t1\n"
        XCTAssertEqual(CoreShare.allowedCPUs(status: status), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(CoreShare.allowedCPUs(status: "Cpus_allowed_list:\t5\n"), [5])
        XCTAssertNil(CoreShare.allowedCPUs(status: "Name:\ties\n"))
        XCTAssertNil(CoreShare.allowedCPUs(status: "Cpus_allowed_list:\t3-1\n"))
        XCTAssertNil(CoreShare.allowedCPUs(status: "Cpus_allowed_list:\tx\n"))
        XCTAssertFalse(CoreShare.currentCPUs.isEmpty)
    }

    func testSharesForTheUsualBindings() {
        let node = Array(0..<64)
        // Unbound: every rank of the node may run anywhere.
        XCTAssertEqual(CoreShare(mine: node, node: Array(repeating: node, count: 4)).threads, 16)
        // Bound to a core each.
        XCTAssertEqual(CoreShare(mine: [5], node: (0..<4).map { [$0 + 4] } + [[5]]).threads, 1)
        // Bound to a socket (32 CPUs), two ranks per socket.
        let socket0 = Array(0..<32), socket1 = Array(32..<64)
        XCTAssertEqual(CoreShare(mine: socket0, node: [socket0, socket0, socket1, socket1]).threads, 16)
        // A cpuset of 4 CPUs (Slurm), one rank, then four unbound ranks in it.
        let cpuset = [8, 9, 10, 11]
        XCTAssertEqual(CoreShare(mine: cpuset, node: [cpuset]).threads, 4)
        XCTAssertEqual(CoreShare(mine: cpuset, node: Array(repeating: cpuset, count: 4)).threads, 1)
        // More ranks than CPUs: one thread each, and the warning's test says so.
        let crowded = CoreShare(mine: [0, 1], node: Array(repeating: [0, 1], count: 3))
        XCTAssertEqual(crowded.threads, 1)
        XCTAssertTrue(crowded.oversubscribed(threads: 1))
        XCTAssertFalse(CoreShare(mine: [0, 1], node: [[0, 1]]).oversubscribed(threads: 2))
    }

    /// `taskset -c 0`: one CPU allowed, so one thread by default (the machine has more).
    func testTasksetNarrowsTheDefaultThreads() throws {
        let taskset = "/usr/bin/taskset"
        guard FileManager.default.isExecutableFile(atPath: taskset) else { throw XCTSkip("no taskset") }
        let arguments = ["train", "--epochs", "1", "--limit", "256", "--test-limit", "256", "--no-progress"]
        let one = try Subprocess.run(
            taskset, ["-c", "0", BuiltProducts.ies] + arguments + ["--run-dir", try runDirectory()],
            environment: MPIRun.environment, timeout: 120)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("1 rank(s) x 1 thread(s)"), one.stdout)
        XCTAssertFalse(one.stderr.contains("exceed"), one.stderr)
        let all = CoreShare.currentCPUs
        guard all.count >= 2 else { return }
        let two = try Subprocess.run(
            taskset, ["-c", "\(all[0]),\(all[1])", BuiltProducts.ies] + arguments + ["--run-dir", try runDirectory()],
            environment: MPIRun.environment, timeout: 120)
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertTrue(two.stdout.contains("1 rank(s) x 2 thread(s)"), two.stdout)
    }
}
