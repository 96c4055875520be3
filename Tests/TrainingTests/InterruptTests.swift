import Distributed
import Foundation
import TestSupport
import Training
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C (SIGINT) no longer loses the partial epoch: the first one stops the run at the next
/// step boundary with a checkpoint, exit 75, like SIGTERM; a second one ends it at once with
/// 130, the shell's convention. Every process has a deadline.
final class InterruptTests: RunDirectoryTestCase {
    private let common = [
        "--model", "mlp", "--limit", "30000", "--threads", "1", "--no-progress", "--seed", "1", "--ies-threshold", "0.05",
        "--ies-window", "1", "--ies-k", "1",
    ]

    /// Starts `ies train` and waits until epoch 1 is reported and epoch 2 is training.
    private func startInEpochTwo(_ run: String) throws -> Subprocess {
        let process = try Subprocess(
            BuiltProducts.ies, ["train", "--epochs", "3", "--run-dir", run] + common, environment: MPIRun.environment)
        process.waitForOutput("epoch 1/3")  // epoch 2 trains from the moment this line shows
        return process
    }

    func testFirstCtrlCCheckpointsMidEpochExitsPreemptedAndResumesExactly() throws {
        _ = try Fixtures.fashion(limit: 1)
        let straight = try runDirectory(), run = try runDirectory()
        let reference = try Fixtures.runIES(["train", "--epochs", "3", "--run-dir", straight] + common)
        XCTAssertEqual(reference.status, 0, reference.stderr)

        let process = try startInEpochTwo(run)
        kill(process.pid, SIGINT)
        let end = process.wait(timeout: 60)
        XCTAssertFalse(end.timedOut, end.stderr)
        XCTAssertEqual(end.reason, .exit, end.stderr)
        XCTAssertEqual(end.status, ExitStatus.preempted.rawValue, "\(end.stdout)\n\(end.stderr)")
        XCTAssertTrue(end.stderr.contains(StopRequest.interruptMessage), end.stderr)
        XCTAssertTrue(end.stdout.contains("stopped by a preemption signal"), end.stdout)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []
        XCTAssertTrue(names.contains { $0.contains(".step-") }, "no mid-epoch checkpoint: \(names)")

        let resumed = try Fixtures.runIES(["train", "--run-dir", run, "--resume", "auto", "--epochs", "3"] + common)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming at epoch 2"), resumed.stdout)
        XCTAssertEqual(
            try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")),
            try Data(contentsOf: URL(fileURLWithPath: straight + "/model.safetensors")),
            "the run resumed after Ctrl-C differs from the uninterrupted one")
    }

    /// Steps of seconds (the cnn on batches of 4096, one thread), so that the second Ctrl-C
    /// comes while the first is still waiting for a step boundary.
    func testSecondCtrlCStopsAtOnceWith130() throws {
        _ = try Fixtures.fashion(limit: 1)
        let run = try runDirectory()
        let process = try Subprocess(
            BuiltProducts.ies,
            ["train", "--model", "cnn", "--batch-size", "4096", "--limit", "8192", "--test-limit", "500", "--epochs", "3",
             "--threads", "1", "--no-progress", "--run-dir", run],
            environment: MPIRun.environment)
        func wait(until condition: () -> Bool) {
            let deadline = Date().addingTimeInterval(60)
            while !condition() && process.isRunning && Date() < deadline { usleep(10_000) }
        }
        wait { process.stdout.contains("ies: cnn") }  // the handlers are installed
        kill(process.pid, SIGINT)
        wait { process.stderr.contains(StopRequest.interruptMessage) }
        kill(process.pid, SIGINT)
        let signalled = Date()
        let end = process.wait(timeout: 30)
        XCTAssertFalse(end.timedOut, end.stderr)
        XCTAssertEqual(end.reason, .exit, end.stderr)
        XCTAssertEqual(end.status, ExitStatus.interrupted.rawValue, "\(end.stdout)\n\(end.stderr)")
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 10)
    }
}
