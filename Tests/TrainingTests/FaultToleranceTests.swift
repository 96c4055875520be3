import Distributed
import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Preemption (SIGTERM / SIGUSR1: checkpoint at the next step boundary, exit 75, exact
/// resume) and the stall watchdog (a rank that stops answering ends the job, named). Every
/// process has a deadline.
final class FaultToleranceTests: RunDirectoryTestCase {
    private let common = [
        "--model", "mlp", "--limit", "30000", "--threads", "1", "--no-progress", "--seed", "1", "--ies-threshold", "0.05",
        "--ies-window", "1", "--ies-k", "1",
    ]

    /// A running `ies train` (alone or under mpirun) that a test can signal.
    private final class Job {
        let process: Subprocess

        init(_ executable: String, _ arguments: [String]) throws {
            process = try Subprocess(executable, arguments, environment: MPIRun.environment)
        }

        /// Waits until `text` shows on stdout (or `seconds` pass).
        func waitFor(_ text: String, seconds: Double = 60) {
            process.waitForOutput(text, seconds: seconds)
        }

        /// Waits for the end (killing it past `seconds`); returns the exit status and the seconds from `since`.
        func finish(seconds: Double, since: Date) -> (status: Int32, seconds: Double, timedOut: Bool) {
            let result = process.wait(timeout: seconds)
            return (result.status, Date().timeIntervalSince(since), result.timedOut)
        }
    }

    /// The pid of `rank` among the `ies train` processes of this test's run directory.
    private func pid(ofRank rank: Int, runDirectory: String) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(runDirectory),
                  String(decoding: command, as: UTF8.self).hasPrefix(BuiltProducts.ies),
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
            else { continue }
            if environment.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) {
                return pid
            }
        }
        return nil
    }

    private func mpirunArguments(ranks: Int, _ arguments: [String]) throws -> (String, [String]) {
        (try MPIRun.launcher(), MPIRun.options(ranks: ranks) + [BuiltProducts.ies] + arguments)
    }

    private func model(_ run: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")) }

    /// Runs to the end, with `--resume auto`, and returns the result.
    private func resumeAuto(_ run: String, ranks: Int?) throws {
        let arguments = ["train", "--run-dir", run, "--resume", "auto", "--epochs", "3"] + common
        let result = try ranks.map { try Fixtures.mpirunIES(ranks: $0, arguments) } ?? Fixtures.runIES(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("resuming at epoch"), result.stdout)
    }

    /// Signal `signal` to mpirun (`target` nil) or to one rank, while epoch 2 trains: the job
    /// stops with status 75 after writing a mid-epoch checkpoint, and `--resume auto` gives
    /// the uninterrupted model bit for bit.
    private func assertPreemption(ranks: Int?, signal: Int32, target rank: Int?) throws {
        let straight = try runDirectory(), run = try runDirectory()
        let base = ["train", "--epochs", "3"] + common
        let reference = try ranks.map { try Fixtures.mpirunIES(ranks: $0, base + ["--run-dir", straight]) }
            ?? Fixtures.runIES(base + ["--run-dir", straight])
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let (executable, arguments) = try ranks.map { try mpirunArguments(ranks: $0, base + ["--run-dir", run]) }
            ?? (BuiltProducts.ies, base + ["--run-dir", run])
        let job = try Job(executable, arguments)
        job.waitFor("epoch 1/3")  // epoch 2 trains from the moment this line shows
        let target = rank.flatMap { pid(ofRank: $0, runDirectory: run) } ?? job.process.pid
        let signalled = Date()
        kill(target, signal)
        let end = job.finish(seconds: 60, since: signalled)
        XCTAssertFalse(end.timedOut, job.process.stderr)
        XCTAssertEqual(end.status, ExitStatus.preempted.rawValue, "\(job.process.stdout)\n\(job.process.stderr)")
        XCTAssertTrue(job.process.stdout.contains("stopped by a preemption signal"), job.process.stdout)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []
        XCTAssertTrue(names.contains { $0.contains(".step-") }, "no mid-epoch checkpoint: \(names)")
        print(String(format: "preemption (%@ to %@): exit %d %.2f s after the signal", signal == SIGTERM ? "SIGTERM" : "SIGUSR1",
                     rank.map { "rank \($0)" } ?? (ranks == nil ? "ies" : "mpirun"), end.status, end.seconds))
        try resumeAuto(run, ranks: ranks)
        XCTAssertEqual(try model(run), try model(straight), "resumed run differs from the uninterrupted one")
    }

    func testSIGTERMToASingleProcessCheckpointsMidEpochAndResumesExactly() throws {
        try assertPreemption(ranks: nil, signal: SIGTERM, target: nil)
    }

    func testSIGUSR1ToMpirunStopsEveryRankAndResumesExactly() throws {
        try assertPreemption(ranks: 2, signal: SIGUSR1, target: nil)
    }

    func testSIGTERMToOneRankStopsEveryRankAndResumesExactly() throws {
        try assertPreemption(ranks: 2, signal: SIGTERM, target: 1)
    }

    /// `--resume auto` on an empty run directory starts the run.
    func testResumeAutoStartsWhenThereIsNoCheckpoint() throws {
        let run = try runDirectory()
        let result = try Fixtures.runIES(["train", "--run-dir", run, "--resume", "auto", "--epochs", "1"] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse(result.stdout.contains("resuming"), result.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/model.safetensors"))
    }

    /// A mid-epoch checkpoint continues exactly only on as many ranks as wrote it: another
    /// count is refused with a message that says what to do.
    func testMidEpochCheckpointRefusesAnotherRankCount() throws {
        let run = try runDirectory()
        let job = try Job(BuiltProducts.ies, ["train", "--epochs", "3", "--run-dir", run] + common)
        job.waitFor("epoch 1/3")
        kill(job.process.pid, SIGTERM)
        XCTAssertEqual(job.finish(seconds: 60, since: Date()).status, ExitStatus.preempted.rawValue)
        let result = try Fixtures.mpirunIES(ranks: 2, ["train", "--run-dir", run, "--resume", "--threads", "1", "--no-progress"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("continues exactly only on 1"), result.stderr)
    }

    /// SIGSTOP of one rank: the job ends within the stall timeout plus 10 s, naming the
    /// stopped rank, and the run resumes from its last checkpoint.
    func testStoppedRankEndsTheJobNamingIt() throws {
        let run = try runDirectory()
        let (mpirun, arguments) = try mpirunArguments(
            ranks: 3, ["train", "--epochs", "20", "--run-dir", run, "--stall-timeout", "5"] + common)
        let job = try Job(mpirun, arguments)
        job.waitFor("epoch 1/20")
        let victim = try XCTUnwrap(pid(ofRank: 2, runDirectory: run), "rank 2 not found")
        let stopped = Date()
        kill(victim, SIGSTOP)
        let end = job.finish(seconds: 30, since: stopped)
        kill(victim, SIGKILL)
        XCTAssertFalse(end.timedOut, "the job hung after a rank stopped")
        print(String(format: "SIGSTOP of rank 2: job ended %.1f s later, exit %d", end.seconds, end.status))
        XCTAssertEqual(end.status, ExitStatus.stalled.rawValue, job.process.stderr)
        XCTAssertLessThan(end.seconds, 5 + 10)
        XCTAssertTrue(job.process.stderr.contains("rank 2 (host"), job.process.stderr)
        // Resume from the last checkpoint, on two ranks.
        let result = try Fixtures.mpirunIES(
            ranks: 2, ["train", "--run-dir", run, "--resume", "--epochs", "3", "--threads", "1", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
    }
}
