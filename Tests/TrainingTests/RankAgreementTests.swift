import Datasets
import Foundation
import RunFormat
import TestSupport
import XCTest

/// Ranks agree or stop: ranks started with different settings, models or data stop before
/// training with one line naming the rank and what differs, and write nothing; parameters
/// that drift apart during the run stop it before that epoch is written. Every process has
/// a deadline.
final class RankAgreementTests: RunDirectoryTestCase {
    private let common = ["--limit", "500", "--test-limit", "100", "--epochs", "1", "--threads", "1", "--no-progress"]

    /// `mpirun <options> -np 1 ies train A : -np 1 ies train B` (MPMD: one rank per argument list).
    private func mpmd(_ perRank: [[String]], timeout: Double = 120) throws -> Subprocess.Result {
        var command = MPIRun.options(ranks: 1) + [try BuiltProducts.require("ies"), "train"] + perRank[0]
        for arguments in perRank.dropFirst() { command += [":", "-np", "1", BuiltProducts.ies, "train"] + arguments }
        return try Subprocess.run(try MPIRun.launcher(), command, environment: MPIRun.environment, timeout: timeout)
    }

    /// The job stopped nonzero on its own (no deadline hit) and wrote nothing into `run`.
    private func assertStoppedWithoutOutput(_ result: Subprocess.Result, run: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.timedOut, "the job hung: \(result.output)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "ranks that disagree trained: \(result.output)", file: file, line: line)
        let directory = RunDirectory(run)
        for path in [directory.metrics, directory.model] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(path) was written", file: file, line: line)
        }
        XCTAssertEqual(directory.checkpointStore.checkpointNames(), [], "a checkpoint was written", file: file, line: line)
    }

    /// The disagreement line (every rank prints the same message after its rank prefix).
    private func disagreement(_ result: Subprocess.Result) -> String {
        result.output.split(separator: "\n").first { $0.contains("ranks disagree") }.map(String.init) ?? ""
    }

    func testDifferentLearningRatesStopNamingRankAndSetting() throws {
        let run = try runDirectory()
        let shared = common + ["--model", "mlp", "--run-dir", run]
        let result = try mpmd([shared + ["--lr", "0.1"], shared + ["--lr", "0.2"]])
        assertStoppedWithoutOutput(result, run: run)
        let line = disagreement(result)
        XCTAssertTrue(line.contains("rank 1 differs from rank 0 in configuration (lr: 0.2 vs 0.1)"), result.output)
        XCTAssertFalse(line.contains("model layout") || line.contains("data ("), line)
    }

    /// The stall watchdog's setup is a collective only ranks with a timeout entered: ranks given
    /// different timeouts (or 0 on one) now stop at once, naming the flag.
    func testDifferentStallTimeoutsStopNamingTheFlag() throws {
        let run = try runDirectory()
        let shared = common + ["--model", "mlp", "--run-dir", run]
        let result = try mpmd([shared + ["--stall-timeout", "0"], shared + ["--stall-timeout", "20"]])
        assertStoppedWithoutOutput(result, run: run)
        XCTAssertTrue(disagreement(result).contains("--stall-timeout"), result.output)
    }

    func testDifferentModelsStopBeforeTheBroadcast() throws {
        let run = try runDirectory()
        let shared = common + ["--run-dir", run]
        let result = try mpmd([shared + ["--model", "mlp"], shared + ["--model", "cnn"]])
        assertStoppedWithoutOutput(result, run: run)
        XCTAssertFalse(result.output.contains("MPI_ERR_TRUNCATE"), result.output)
        let line = disagreement(result)
        XCTAssertTrue(line.contains("rank 1 differs from rank 0 in configuration (model: \"cnn\" vs \"mlp\")"), result.output)
        XCTAssertTrue(line.contains("model layout ("), result.output)
    }

    /// The data directories of the test, removed after it.
    private var dataDirectories: [TemporaryDirectory] = []

    override func tearDown() {
        dataDirectories = []
        super.tearDown()
    }

    /// Three directories with the same file names, each with Fashion-MNIST's first 500
    /// training and 100 test instances as raw IDX: A, a copy of A, and B with one pixel changed.
    private func smallDataSets() throws -> (a: String, copy: String, b: String) {
        let splits = try Fixtures.fashion(limit: 500)
        let test = splits.test.prefix(100)
        func write(_ train: Dataset) throws -> TemporaryDirectory {
            let directory = try TemporaryDirectory(name)
            func header(_ words: [Int]) -> [UInt8] { words.flatMap { w in (0..<4).reversed().map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } } }
            for (prefix, set) in [("train", train), ("t10k", test)] {
                try directory.write(
                    "\(prefix)-images-idx3-ubyte", header([0x803, set.count, set.height, set.width]) + set.images)
                try directory.write("\(prefix)-labels-idx1-ubyte", header([0x801, set.count]) + set.labels.map { UInt8($0) })
            }
            return directory
        }
        var changed = splits.train
        changed.images[1000] ^= 1
        dataDirectories = [try write(splits.train), try write(splits.train), try write(changed)]
        return (dataDirectories[0].path, dataDirectories[1].path, dataDirectories[2].path)
    }

    func testSameFileNamesWithOtherContentsStopNamingTheData() throws {
        let data = try smallDataSets()
        let run = try runDirectory()
        let shared = ["--epochs", "1", "--threads", "1", "--no-progress", "--model", "mlp", "--run-dir", run]
        let result = try mpmd([shared + ["--data", data.a], shared + ["--data", data.b]])
        assertStoppedWithoutOutput(result, run: run)
        let line = disagreement(result)
        XCTAssertTrue(line.contains("rank 1 differs from rank 0 in data (same sizes, other contents)"), result.output)
        XCTAssertFalse(line.contains("configuration"), "the data path may differ per host: \(line)")
    }

    /// The settings a rank may choose for itself (its data path, its run directory) do not stop the job.
    func testSameDataUnderOtherPathsTrains() throws {
        let data = try smallDataSets()
        let run = try runDirectory()
        let shared = ["--epochs", "1", "--threads", "1", "--no-progress", "--model", "mlp"]
        let result = try mpmd([
            shared + ["--data", data.a, "--run-dir", run], shared + ["--data", data.copy, "--run-dir", run + "-rank1"],
        ])
        XCTAssertTrue(result.succeeded, result.output)
        let metrics = try MetricsFile(path: RunDirectory(run).metrics).records
        XCTAssertEqual(metrics.map(\.parameterDigestAgree), [true])
    }

    /// One rank's parameters perturbed before the digests of epoch 2 are compared: the job
    /// stops naming that rank and the epoch; epoch 1's checkpoint stands, none of epoch 2 exists.
    func testParametersThatDriftApartStopTheRun() throws {
        let run = try runDirectory()
        let result = try Fixtures.mpirunIES(
            ranks: 2,
            ["train", "--run-dir", run, "--epochs", "3", "--model", "mlp", "--limit", "500", "--threads", "1",
             "--no-progress", "--perturb-rank", "1", "--perturb-epoch", "2"],
            timeout: 180, binary: BuiltProducts.testbed)
        XCTAssertFalse(result.timedOut, result.output)
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("parameters of rank 1 differ from rank 0's after epoch 2"), result.output)
        let directory = RunDirectory(run)
        XCTAssertEqual(directory.checkpointStore.checkpointNames(), [CheckpointStore.name(epoch: 1)])
        XCTAssertEqual(try MetricsFile(path: directory.metrics).records.map(\.epoch), [1])
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.model))
    }
}
