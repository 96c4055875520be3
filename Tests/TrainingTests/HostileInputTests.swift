import Foundation
import Report
import RunFormat
import SafeTensors
import TestSupport
import Training
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Issue 20: no silent wrong result. Settings that would train nothing, overflow, allocate
/// without limit or never end are refused before training with one line naming the flag;
/// model files with impossible metadata are refused naming the file and the field; paths
/// that cannot be written say why. Every process has a deadline (`Fixtures.runIES`).
final class HostileInputTests: XCTestCase {
    // MARK: - Helpers

    /// Runs `ies arguments` and checks: it exited (no crash, no trace) with `status`, with one
    /// `Error:` line on stderr holding every needle.
    @discardableResult
    private func assertError(
        _ arguments: [String], status: Int32, mentioning needles: [String], file: StaticString = #filePath,
        line: UInt = #line
    ) throws -> Subprocess.Result {
        let result = try Fixtures.runIES(arguments, timeout: 120)
        XCTAssertEqual(result.reason, .exit, "ies crashed: \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.status, status, "ies \(arguments): \(result.stderr)", file: file, line: line)
        let errorLines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(errorLines.count, 1, "expected one error line, got: \(result.stderr)", file: file, line: line)
        for needle in needles {
            XCTAssertTrue(result.stderr.contains(needle), "stderr lacks '\(needle)': \(result.stderr)", file: file, line: line)
        }
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), result.stderr, file: file, line: line)
        return result
    }

    /// A usage error (exit 64) for `ies train` flags, checked before any data is read.
    private func assertRefused(_ flags: [String], mentioning needles: [String], line: UInt = #line) throws {
        try assertError(["train", "--run-dir", "/nonexistent/never-created"] + flags, status: 64, mentioning: needles, line: line)
    }

    /// One tiny finished run (mlp, 200 instances, one epoch), trained once for the tests that
    /// need a model file or a run directory.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var sharedRun: (directory: TemporaryDirectory, result: Subprocess.Result)?

    private func tinyRun() throws -> (run: String, result: Subprocess.Result) {
        _ = try Fixtures.fashion(limit: 1)  // skips when the data set is missing
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if let sharedRun = Self.sharedRun { return (sharedRun.directory.file("run"), sharedRun.result) }
        let directory = try TemporaryDirectory("hostile-inputs")
        let result = try Fixtures.runIES([
            "train", "--model", "mlp", "--limit", "200", "--test-limit", "100", "--epochs", "1", "--threads", "1",
            "--no-progress", "--batch-size", "100000000", "--sync-bn", "--run-dir", directory.file("run"),
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        Self.sharedRun = (directory, result)
        return (directory.file("run"), result)
    }

    override class func tearDown() {
        sharedRun = nil
        super.tearDown()
    }

    /// A copy of the tiny run's model with metadata `key` set to `value` (nil: removed).
    private func modelFile(_ changes: [String: String], in directory: TemporaryDirectory) throws -> String {
        var file = try SafetensorsFile.read(path: try tinyRun().run + "/model.safetensors")
        for (key, value) in changes { file.metadata[key] = value }
        let path = directory.file("model-\(changes.keys.sorted().joined(separator: "-")).safetensors")
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: - Learning rate: zero, tiny, NaN or infinite at any epoch

    func testLearningRateZeroAtAnyEpochIsRefusedNamingTheFlagAndEpoch() throws {
        try assertRefused(
            ["--lr-scaling", "linear", "--lr-reference-batch", "9223372036854775807"],
            mentioning: ["--lr-reference-batch", "--lr-scaling linear", "learning rate"])
        try assertRefused(["--lr-schedule", "linear:0:0", "--epochs", "2"], mentioning: ["--lr-schedule", "epoch 1 of 2"])
        try assertRefused(["--lr-schedule", "exponential:0", "--epochs", "2"], mentioning: ["--lr-schedule"])
        try assertRefused(["--lr-schedule", "step:1:0", "--epochs", "3"], mentioning: ["--lr-schedule"])
        try assertRefused(
            ["--lr-schedule", "exponential:1e-300", "--epochs", "3"], mentioning: ["--lr-schedule", "epoch 2 of 3"])
        try assertRefused(["--lr-schedule", "step:2:1e-300", "--epochs", "3"], mentioning: ["--lr-schedule", "epoch 3 of 3"])
        try assertRefused(
            ["--lr", "1e-11", "--warmup-epochs", "50", "--epochs", "60"], mentioning: ["--warmup-epochs", "epoch 1 of 60"])
        try assertRefused(["--lr", "1e-300"], mentioning: ["--lr", "learning rate"])
        try assertRefused(["--lr", "1e308", "--lr-scaling", "linear", "--batch-size", "128"], mentioning: ["--lr-reference-batch", "inf"])
        try assertRefused(["--lr", "0"], mentioning: ["--lr"])
        try assertRefused(["--lr", "nan"], mentioning: ["--lr"])
    }

    /// What a resume re-validates: the rates over the new number of epochs.
    func testScheduleThatDecaysToZeroWithinTheRunIsRefused() throws {
        // 0.96^e falls below 1e-12 / 0.1 after about 620 epochs
        try assertRefused(["--epochs", "1000"], mentioning: ["--lr-schedule", "exponential:0.96", "epoch"])
    }

    // MARK: - Sizes and counts: bounded before anything is allocated or added

    func testHugeCountsAreRefusedNamingTheFlag() throws {
        try assertRefused(["--epochs", "9223372036854775807"], mentioning: ["--epochs", "at most 1000000"])
        try assertRefused(["--ies-window", "9223372036854775807"], mentioning: ["--ies-window", "at most 64"])
        try assertRefused(["--ies-k", "9223372036854775807"], mentioning: ["--ies-k", "at most 64"])
        try assertRefused(["--ies-window", "40", "--ies-k", "40"], mentioning: ["--ies-window", "at most 64"])
        try assertRefused(["--model", "resnet18", "--width", "100000"], mentioning: ["--width", "at most 4096"])
        try assertRefused(["--batch-size", "9223372036854775807"], mentioning: ["--batch-size", "at most"])
        try assertRefused(["--batch-size-per-rank", "9223372036854775807"], mentioning: ["--batch-size-per-rank", "at most"])
        try assertRefused(["--threads", "100000000"], mentioning: ["--threads", "at most"])
        try assertRefused(["--bucket-mb", "1e300"], mentioning: ["--bucket-mb", "at most"])
    }

    /// A model whose parameters alone need hundreds of GiB is refused before allocating them.
    func testAModelTooLargeForMemoryIsRefusedBeforeAllocating() throws {
        _ = try tinyRun()
        let run = try TemporaryDirectory("too-large")
        try assertError(
            ["train", "--model", "resnet18", "--width", "4096", "--limit", "64", "--epochs", "1", "--run-dir", run.file("run")],
            status: 1, mentioning: ["--width", "GiB", "parameters"])
    }

    /// A global batch larger than the data is the data: clamped with a warning on stderr.
    func testBatchLargerThanTheDataIsClampedWithAWarning() throws {
        let (run, result) = try tinyRun()
        XCTAssertTrue(
            result.stderr.contains("warning: --batch-size 100000000 exceeds the 200 training instances; using 200"),
            result.stderr)
        let records = try MetricsFile(path: run + "/metrics.jsonl").records
        XCTAssertEqual(records.map(\.globalBatch), [200])
    }

    /// Epoch counts and instance counts beyond 32 bits are shown whole (`%d` truncated them).
    func testEpochLineShowsLargeNumbersWhole() {
        var metrics = EpochMetrics(
            epoch: 999_999, lr: 0.1, trained: 5_000_000_000, probed: 0, mastered: 4_294_967_297, returned: 0,
            backpropSaved: 0, trainLoss: 1, trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.5, seconds: 1,
            trainSeconds: 1, probeSeconds: 0, samplesPerSecond: 1)
        metrics.worldSize = 1
        let line = EpochReporter.epochLine(metrics, epochs: 1_000_000)
        XCTAssertTrue(line.hasPrefix("epoch 999999/1000000 "), line)
        XCTAssertTrue(line.contains("trained 5000000000 "), line)
        XCTAssertTrue(line.contains("mastered 4294967297 "), line)
        XCTAssertEqual(formatDuration(1e300), "?")  // no trap converting to Int
        XCTAssertEqual(formatDuration(3 * 86_400 * 365), "26280h 00m")
        XCTAssertFalse(NumberText.duration(.infinity).isEmpty)
        XCTAssertFalse(NumberText.duration(1e300).isEmpty)
    }

    // MARK: - Model files: metadata bounded and checked, never a trap

    func testModelFileWithImpossibleMetadataIsAnErrorNamingFileAndField() throws {
        let directory = try TemporaryDirectory("model-metadata")
        let cases: [([String: String], String)] = [
            (["normalization_std": "0"], "normalization_std"),
            (["normalization_std": "nan"], "normalization_std"),
            (["normalization_std": "inf"], "normalization_std"),
            (["normalization_std": "-1"], "normalization_std"),
            (["normalization_mean": "nan"], "normalization_mean"),
            (["normalization_mean": "-inf"], "normalization_mean"),
            (["input_shape": "1,100000,28"], "input_shape"),
            (["input_shape": "1000,28,28"], "input_shape"),
            (["input_shape": "64,4096,4096", "normalization_mean": Array(repeating: "0", count: 64).joined(separator: ","),
              "normalization_std": Array(repeating: "1", count: 64).joined(separator: ",")], "GiB"),
            (["classes": "1000000000"], "classes"),
            (["classes": "-3"], "classes"),
            (["model": "resnet18", "width": "100000"], "width"),
        ]
        for (changes, field) in cases {
            let path = try modelFile(changes, in: directory)
            try assertError(
                ["eval", "--model-file", path, "--threads", "1"], status: 1, mentioning: [path, field])
        }
    }

    // MARK: - Messages

    /// Negative numbers are values (ArgumentParser read `-5` as a flag: "Missing value").
    func testNegativeNumbersToBenchAndEvalAreValues() throws {
        let bench = try assertError(["bench", "--batch-size", "-5"], status: 64, mentioning: ["--batch-size", "-5"])
        XCTAssertFalse(bench.stderr.contains("Missing value"), bench.stderr)
        try assertError(["bench", "--width", "-5", "--models", "resnet18"], status: 64, mentioning: ["--width", "-5"])
        try assertError(["bench", "--repeats", "-1"], status: 64, mentioning: ["--repeats", "-1"])
        try assertError(["bench", "--seconds", "-1"], status: 64, mentioning: ["--seconds", "-1"])
        try assertError(["bench", "--tracker-instances", "-1"], status: 64, mentioning: ["--tracker-instances", "-1"])
        let eval = try assertError(
            ["eval", "--model-file", "/nonexistent/m.safetensors", "--threads", "-2"], status: 64,
            mentioning: ["--threads", "-2"])
        XCTAssertFalse(eval.stderr.contains("Missing value"), eval.stderr)
    }

    /// `--loops` times the training steps' loops: with --layers or --convs it would do nothing.
    func testBenchLoopsIsRefusedWithLayersAndConvs() throws {
        try assertError(["bench", "--loops", "--layers", "mlp"], status: 64, mentioning: ["--loops", "--layers"])
        try assertError(["bench", "--loops", "--convs", "8:8:8:3:1"], status: 64, mentioning: ["--loops", "--convs"])
    }

    func testInspectOnADirectoryWithoutARunSaysSo() throws {
        let directory = try TemporaryDirectory("empty-run")
        try assertError(["inspect", directory.path], status: 1, mentioning: [directory.path, "holds no run", "no metrics.jsonl"])
    }

    func testInspectOnABadMetricsLineNamesFileAndLine() throws {
        let (run, _) = try tinyRun()
        let directory = try TemporaryDirectory("bad-metrics")
        let good = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n").first.map(String.init) ?? ""
        let path = directory.file("metrics.jsonl")
        try Data((good + "\n{\"epoch\": \"two\"}\n" + good + "\n").utf8).write(to: URL(fileURLWithPath: path))
        try assertError(["inspect", directory.path], status: 1, mentioning: [path + ":2:", "not a metrics record"])
    }

    /// Foundation's "NSCocoaErrorDomain error 512" said neither the path nor the problem.
    func testUnwritablePathsSayWhichPathAndWhy() throws {
        let (run, _) = try tinyRun()
        let directory = try TemporaryDirectory("unwritable")
        let file = directory.file("afile")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let common = ["--model", "mlp", "--limit", "100", "--test-limit", "50", "--epochs", "1", "--no-progress"]
        try assertError(
            ["train", "--run-dir", file + "/run"] + common, status: 1, mentioning: [file + "/run", "is not a directory"])
        try assertError(
            ["train", "--run-dir", directory.file("run"), "--tensorboard", file + "/tb"] + common, status: 1,
            mentioning: [file + "/tb", "is not a directory"])
        try assertError(["report", run, "-o", directory.path], status: 1, mentioning: [directory.path, "is a directory"])
        try assertError(
            ["report", run, "-o", file + "/report.html"], status: 1, mentioning: [file + "/report.html", "is not a directory"])
        try assertError(["report", run, "--tensorboard", file], status: 1, mentioning: [file, "is not a directory"])
        try assertError(
            ["train", "--data", file + "/data", "--run-dir", directory.file("run2")] + common, status: 1,
            mentioning: [file + "/data", "not a directory"])
    }

    /// Warnings go to stderr, never into the run's record on stdout; --sync-bn that does
    /// nothing says so.
    func testWarningsGoToStderrAndSyncBNWithoutEffectIsNamed() throws {
        let (_, result) = try tinyRun()
        XCTAssertFalse(result.stdout.contains("warning"), result.stdout)
        XCTAssertTrue(result.stderr.contains("warning: --sync-bn has no effect on one rank"), result.stderr)
        XCTAssertTrue(result.stderr.contains("warning: --sync-bn has no effect: the mlp model has no BatchNorm"), result.stderr)
        XCTAssertTrue(result.stdout.contains(" classes, "), "the header names the class count: \(result.stdout)")
    }
}
