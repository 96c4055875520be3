import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Faults a single machine never shows, on a two-host bed: a pulled cable, a host whose
/// processes all die, a rank that stops (SIGSTOP). Each must end the job within the stall
/// timeout plus 10 s, name the culprit, and leave a checkpoint that resumes on the
/// remaining host.
final class HostFaultTests: ClusterTestCase {
    private let stallTimeout = 5.0
    private let common = ["--model", "mlp", "--limit", "30000", "--threads", "1", "--no-progress", "--seed", "3"]

    /// Starts a long run on `bed`, waits until its first epoch is logged, applies `fault`,
    /// and returns the job's result with the seconds from the fault to the job's end.
    private func runWithFault(
        _ bed: Bed, _ run: String, fault: () throws -> Void
    ) throws -> (result: Subprocess.Result, secondsAfterFault: Double) {
        let arguments = ["train", "--run-dir", run, "--epochs", "40", "--stall-timeout", String(stallTimeout)] + common
        /// Written by the runner thread before it signals `done`, read after `done.wait()`.
        final class Outcome: @unchecked Sendable { var result: Subprocess.Result? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            outcome.result = try? bed.ies(ranks: 2, arguments, timeout: 180)
            done.signal()
        }
        let metrics = run + "/metrics.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: metrics, encoding: .utf8), !text.isEmpty { break }
            usleep(100_000)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: metrics), "the run never finished an epoch")
        usleep(300_000)
        try fault()
        let faulted = Date()
        done.wait()
        return (try XCTUnwrap(outcome.result, "the job's runner failed"), Date().timeIntervalSince(faulted))
    }

    /// Process ids living in host `index`'s network namespace of `bed`.
    private func pids(onHost index: Int, of bed: Bed, matching: String? = nil) throws -> [pid_t] {
        let listing = try Subprocess.run("/usr/sbin/ip", ["netns", "pids", "csim-\(bed.name)-h\(index)"], timeout: 20)
        return listing.stdout.split(separator: "\n").compactMap { pid_t($0) }.filter { pid in
            guard let matching else { return true }
            let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return String(decoding: command, as: UTF8.self).contains(matching)
        }
    }

    /// The end-of-epoch checkpoint resumes on one host (a fresh one-host bed).
    private func assertResumesOnOneHost(_ run: String) throws {
        let remaining = try makeBed(hosts: 1)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints")) ?? []
        XCTAssertTrue(names.contains { $0.hasPrefix("epoch-") }, "no checkpoint to resume from: \(names)")
        let epochs = (try Cluster.metrics(run)).count + 1
        let resumed = try remaining.ies(
            ranks: 1, ["train", "--run-dir", run, "--resume", "--epochs", String(epochs), "--threads", "1", "--no-progress"],
            timeout: 120)
        XCTAssertTrue(resumed.succeeded, "resume on the remaining host failed:\n\(resumed.output)")
        XCTAssertEqual(try Cluster.metrics(run).last?["world_size"] as? Int, 1)
    }

    private func report(_ what: String, _ outcome: (result: Subprocess.Result, secondsAfterFault: Double)) {
        let line = outcome.result.output.split(separator: "\n").first { $0.contains("stalled") || $0.contains("lost") }
        print(String(
            format: "%@: job ended %.1f s after the fault (status %d): %@", what, outcome.secondsAfterFault,
            outcome.result.status, String(line ?? "")))
        XCTAssertFalse(outcome.result.timedOut, "\(what): the job hung\n\(outcome.result.output)")
        XCTAssertNotEqual(outcome.result.status, 0, "\(what): the job should fail")
        XCTAssertLessThan(outcome.secondsAfterFault, stallTimeout + 10, "\(what): too slow\n\(outcome.result.output)")
    }

    func testPulledCableEndsTheJobNamingTheHost() throws {
        let bed = try makeBed(hosts: 2), run = try runDirectory("cable")
        let outcome = try runWithFault(bed, run) {
            let result = try Cluster.clusterSim(["link", bed.name, "1", "down"], timeout: 20)
            XCTAssertEqual(result.status, 0, result.output)
        }
        report("cable of host 1 pulled", outcome)
        let output = outcome.result.output
        XCTAssertTrue(
            output.contains("csim-\(bed.name)-h1") || output.contains("\(bed.name)") && output.contains("lost communication"),
            "the culprit is not named:\n\(output)")
        try assertResumesOnOneHost(run)
    }

    func testDeadHostEndsTheJobNamingIt() throws {
        let bed = try makeBed(hosts: 2), run = try runDirectory("dead")
        let outcome = try runWithFault(bed, run) {
            let victims = try pids(onHost: 1, of: bed)
            XCTAssertFalse(victims.isEmpty, "no processes on host 1")
            for pid in victims { kill(pid, SIGKILL) }
        }
        report("host 1 killed", outcome)
        let output = outcome.result.output
        XCTAssertTrue(
            output.contains("10.77.") || output.contains("csim-\(bed.name)-h1"), "the dead host is not named:\n\(output)")
        try assertResumesOnOneHost(run)
    }

    func testStoppedRankOnAnotherHostIsNamed() throws {
        let bed = try makeBed(hosts: 2), run = try runDirectory("stopped")
        var stopped: [pid_t] = []
        let outcome = try runWithFault(bed, run) {
            stopped = try pids(onHost: 1, of: bed, matching: "ies")
            XCTAssertFalse(stopped.isEmpty, "no ies rank on host 1")
            for pid in stopped { kill(pid, SIGSTOP) }
        }
        for pid in stopped { kill(pid, SIGKILL) }
        report("rank on host 1 stopped", outcome)
        XCTAssertTrue(outcome.result.output.contains("rank 1 (host csim-\(bed.name)-h1)"), outcome.result.output)
        try assertResumesOnOneHost(run)
    }
}
