import Foundation
import TestSupport
import XCTest

/// The command line on bad input: a one-line error naming the file or flag, non-zero exit, no crash.
final class CLITests: XCTestCase {
    private func assertFails(
        _ arguments: [String], mentioning needles: [String], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try Fixtures.runIES(arguments)
        XCTAssertEqual(result.reason, .exit, "ies crashed: \(result.stderr)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "ies \(arguments) should fail", file: file, line: line)
        let errorLines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(errorLines.count, 1, "expected one error line, got: \(result.stderr)", file: file, line: line)
        for needle in needles {
            XCTAssertTrue(
                result.stderr.contains(needle), "stderr lacks '\(needle)': \(result.stderr)", file: file, line: line)
        }
    }

    func testMissingDataDirectoryNamesIt() throws {
        let run = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: run) }
        try assertFails(
            ["train", "--data", "/nonexistent/ies-data", "--run-dir", run, "--epochs", "1"],
            mentioning: ["/nonexistent/ies-data"])
    }

    func testTruncatedImageFileNamesItAndTheExpectedSize() throws {
        let data = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: data) }
        // A valid 2-image 2x2 IDX set, then the training images cut short.
        func idx(_ magic: UInt32, _ dims: [UInt32], _ payload: [UInt8]) -> Data {
            var bytes: [UInt8] = []
            for word in [magic] + dims { bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: word >> $0) } }
            return Data(bytes + payload)
        }
        try idx(0x803, [2, 2, 2], [1, 2, 3]).write(to: URL(fileURLWithPath: data + "/train-images-idx3-ubyte"))
        try idx(0x801, [2], [0, 1]).write(to: URL(fileURLWithPath: data + "/train-labels-idx1-ubyte"))
        try idx(0x803, [1, 2, 2], [1, 2, 3, 4]).write(to: URL(fileURLWithPath: data + "/t10k-images-idx3-ubyte"))
        try idx(0x801, [1], [1]).write(to: URL(fileURLWithPath: data + "/t10k-labels-idx1-ubyte"))
        try assertFails(
            ["train", "--data", data, "--run-dir", data + "/run", "--epochs", "1"],
            mentioning: ["train-images-idx3-ubyte", "expected 24 bytes"])
    }

    func testNonPositiveNumbersNameTheFlag() throws {
        try assertFails(["train", "--epochs", "0"], mentioning: ["--epochs"])
        try assertFails(["train", "--batch-size", "0"], mentioning: ["--batch-size"])
        try assertFails(["train", "--lr", "-0.1"], mentioning: ["--lr"])
        try assertFails(["train", "--limit", "0"], mentioning: ["--limit"])
    }

    /// A negative number is read as the flag's value (not as another flag), and the error
    /// says what was wrong with it rather than "Missing value".
    func testNegativeNumbersAreValuesWithAClearError() throws {
        try assertFails(["train", "--batch-size", "-3"], mentioning: ["--batch-size must be a positive integer, got -3"])
        try assertFails(["train", "--ies-threshold", "-1"], mentioning: ["--ies-threshold must be", "got -1"])
        try assertFails(["train", "--epochs", "-2"], mentioning: ["--epochs must be a positive integer, got -2"])
        try assertFails(["train", "--rebalance-tolerance", "-0.5"], mentioning: ["--rebalance-tolerance must be >= 0"])
        for arguments in [["train", "--batch-size", "-3"], ["train", "--ies-threshold", "-1"]] {
            XCTAssertFalse(try Fixtures.runIES(arguments).stderr.contains("Missing value"), "\(arguments)")
        }
    }

    func testUnknownModelAndScheduleAreRejected() throws {
        try assertFails(["train", "--model", "resnet"], mentioning: ["--model", "resnet"])
        try assertFails(["train", "--lr-schedule", "exponential"], mentioning: ["--lr-schedule"])
        try assertFails(["train", "--lr-schedule", "step:0:0.5"], mentioning: ["--lr-schedule", "SIZE"])
    }

    func testEvalRejectsAFileThatIsNotAModel() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/junk.safetensors"
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: path))
        try assertFails(["eval", "--model-file", path], mentioning: [path])
        try assertFails(["eval", "--model-file", directory + "/missing.safetensors"], mentioning: ["missing.safetensors"])
    }

    /// A real (tiny) run through the CLI, then `ies eval` on its model.
    func testTrainThenEvalThroughTheCommandLine() throws {
        guard FileManager.default.fileExists(atPath: Fixtures.fashionMNIST) else { throw XCTSkip("no dataset") }
        let run = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let train = try Fixtures.runIES([
            "train", "--model", "mlp", "--epochs", "1", "--limit", "2000", "--run-dir", run, "--threads", "1",
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("epoch 1/1"), train.stdout)
        let eval = try Fixtures.runIES(["eval", "--model-file", run + "/model.safetensors", "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(metrics.utf8)) as? [String: Any])
        let accuracy = try XCTUnwrap(object["test_accuracy"] as? Double)
        XCTAssertTrue(
            eval.stdout.contains(String(format: "test accuracy %.2f%%", accuracy * 100)),
            "eval says \(eval.stdout), training logged \(accuracy)")
    }
}
