import Foundation
import NN
import RunFormat
import SafeTensors
import TestSupport
import Training
import XCTest

/// What a run leaves for people to look at: TensorBoard events and the per-instance listing.
final class RunOutputsTests: RunDirectoryTestCase {
    private let common = [
        "--model", "mlp", "--limit", "2000", "--epochs", "6", "--threads", "1", "--no-progress", "--seed", "4",
        "--ies-window", "1", "--ies-k", "1", "--ies-threshold", "0.05",
    ]

    /// Which GEMM library and kernels computed a run: printed in its header, recorded in its
    /// checkpoints (OpenBLAS's kernel family depends on the CPU, and so do the last bits).
    func testHeaderAndCheckpointNameTheGEMMKernels() throws {
        let run = try runDirectory()
        let result = try Fixtures.runIES(["train", "--run-dir", run] + common.map { $0 == "6" ? "1" : $0 })
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("GEMM: " + BLAS.identity), result.stdout)
        XCTAssertTrue(BLAS.identity.hasPrefix("OpenBLAS") && BLAS.identity.contains(BLAS.coreName), BLAS.identity)
        let meta = try LoadedCheckpoint(directory: run + "/checkpoints/" + CheckpointStore.name(epoch: 1)).meta
        XCTAssertEqual(meta.gemm, BLAS.identity)
    }

    /// `--tensorboard DIR`: event files that TensorBoard's own reader reads back as the
    /// values of metrics.jsonl.
    func testTensorBoardEventsMatchTheMetrics() throws {
        let run = try runDirectory(), events = run + "-tb"
        let result = try Fixtures.runIES(["train", "--run-dir", run, "--tensorboard", events] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        defer { try? FileManager.default.removeItem(atPath: events) }
        try Python.require("tensorboard.backend.event_processing.event_accumulator")
        let script = """
            import sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            a = EventAccumulator(sys.argv[1]); a.Reload()
            for tag in ("accuracy/test", "ies/mastered", "lr"):
                print(tag, " ".join(f"{e.step}:{e.value!r}" for e in a.Scalars(tag)))
            """
        let read = try Python.run(["-c", script, events], timeout: 60)
        XCTAssertEqual(read.status, 0, read.stderr)
        let metrics = try MetricsFile(path: run + "/metrics.jsonl").records
        var values: [String: [(Int, Double)]] = [:]
        for line in read.stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            values[String(words[0])] = words.dropFirst().map {
                let pair = $0.split(separator: ":")
                return (Int(pair[0])!, Double(pair[1])!)
            }
        }
        for (tag, expected) in [
            ("accuracy/test", metrics.map(\.testAccuracy)), ("ies/mastered", metrics.map { Double($0.mastered) }),
            ("lr", metrics.map(\.lr)),
        ] {
            let got = try XCTUnwrap(values[tag], tag)
            XCTAssertEqual(got.map(\.0), metrics.map(\.epoch), tag)
            for (g, e) in zip(got.map(\.1), expected) { XCTAssertEqual(g, Double(Float(e)), accuracy: 1e-7, tag) }
        }
    }

    /// `ies inspect --instances`: one row per instance that agrees with the checkpoint's tracker arrays.
    func testInstanceListingAgreesWithTheCheckpoint() throws {
        let run = try runDirectory(), csv = run + "-instances.csv"
        XCTAssertEqual(try Fixtures.runIES(["train", "--run-dir", run] + common).status, 0)
        defer { try? FileManager.default.removeItem(atPath: csv) }
        let result = try Fixtures.runIES(["inspect", run, "--instances", csv])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(String(lines[0]), InstanceListing.header)
        XCTAssertEqual(lines.count, 2001)
        let checkpoint = try LoadedCheckpoint.newestValid(in: run).checkpoint
        let state = try Trainer.trackerState(of: checkpoint, rule: checkpoint.meta.config.mastery)
        let splits = try Fixtures.fashion(limit: 2000)
        var masteredRows = 0
        for (i, line) in lines.dropFirst().enumerated() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(Int32(f[0]), state.ids[i])
            XCTAssertEqual(Int32(f[1]), splits.train.labels[i])
            XCTAssertEqual(f[3] == "1", state.mastered[i])
            XCTAssertEqual(Int32(f[4]), state.masteredEpochs[i])
            XCTAssertEqual(f[5].isEmpty, state.firstMastered[i] == 0)
            XCTAssertEqual(Float(f[6]), state.lastLoss[i])
            if f[3] == "1" {
                masteredRows += 1
                XCTAssertLessThan(try XCTUnwrap(Float(f[7])), checkpoint.meta.config.mastery.threshold, "row \(i)")
            }
        }
        XCTAssertEqual(masteredRows, checkpoint.meta.mastered)
        XCTAssertGreaterThan(masteredRows, 0, "the fixture run should master instances")
    }
}
