import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RunFormat
import TestSupport
import Training
import XCTest

/// A run directory knows itself (issue 20): no run is overwritten, mixed with another or
/// continued from another run's checkpoint; a fork goes into a new, empty directory; two
/// trainings never write into one directory at once. Each test fails on the code before
/// run identities (it exited 0 and mixed or overwrote the runs).
final class RunDirectoryGuardTests: RunDirectoryTestCase {
    private let common = ["--model", "mlp", "--limit", "400", "--test-limit", "200", "--threads", "1", "--no-progress"]

    @discardableResult
    private func train(_ arguments: [String], expect status: Int32 = 0) throws -> Subprocess.Result {
        let result = try Fixtures.runIES(["train"] + arguments, timeout: 120)
        XCTAssertFalse(result.timedOut, "\(arguments)")
        XCTAssertEqual(result.status, status, "\(arguments)\n\(result.stdout)\n\(result.stderr)")
        return result
    }

    private func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    private func snapshot(_ run: String) -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: run)
        while let name = enumerator?.nextObject() as? String {
            if let data = bytes(run + "/" + name), name != RunLock.file { files[name] = data }
        }
        return files
    }

    /// `--resume A --run-dir B` with B another run: refused, B untouched.
    func testResumingIntoAnotherRunIsRefused() throws {
        let a = try runDirectory(), b = try runDirectory() + "-b"
        try train(common + ["--epochs", "2", "--run-dir", a])
        try train(common + ["--epochs", "2", "--seed", "5", "--run-dir", b])
        let before = snapshot(b)
        let result = try train(["--resume", a, "--run-dir", b, "--epochs", "3", "--no-progress"], expect: 1)
        XCTAssertTrue(result.stderr.contains("already holds a run") && result.stderr.contains("fork"), result.stderr)
        XCTAssertEqual(snapshot(b), before, "B changed")
    }

    /// `--resume A --run-dir NEW` forks: the checkpoint and metrics are copied, run.json
    /// names the origin, A is untouched, and the fork resumes by itself later.
    func testResumingIntoANewDirectoryForks() throws {
        let a = try runDirectory(), fork = try runDirectory() + "-fork"
        try train(common + ["--epochs", "2", "--run-dir", a])
        let before = snapshot(a)
        try train(["--resume", a, "--run-dir", fork, "--epochs", "3", "--no-progress"])
        XCTAssertEqual(snapshot(a), before, "A changed")
        let identity = try XCTUnwrap(try RunIdentity.read(RunDirectory(fork)))
        let original = try XCTUnwrap(try RunIdentity.read(RunDirectory(a)))
        XCTAssertEqual(identity.forkedFrom?.runID, original.id)
        XCTAssertNotEqual(identity.id, original.id)
        XCTAssertEqual(try MetricsFile(path: RunDirectory(fork).metrics).records.map(\.epoch), [1, 2, 3])
        try train(["--resume", "--run-dir", fork, "--epochs", "4", "--no-progress"])
        XCTAssertEqual(try MetricsFile(path: RunDirectory(fork).metrics).records.map(\.epoch), [1, 2, 3, 4])
    }

    /// Another run's checkpoint copied into this run's checkpoints/ (same name or another):
    /// never continued, never pruned in place of this run's own, kept aside when its name is needed.
    func testAnotherRunsCheckpointInTheFolderIsNotContinued() throws {
        let run = try runDirectory(), other = try runDirectory() + "-other"
        try train(common + ["--epochs", "2", "--keep", "2", "--run-dir", run])
        try train(["--model", "cnn", "--limit", "200", "--test-limit", "100", "--threads", "1", "--no-progress", "--epochs", "3",
                   "--run-dir", other])
        let store = RunDirectory(run).checkpointStore
        try FileManager.default.copyItem(atPath: RunDirectory(other).checkpointStore.path("epoch-0003"), toPath: store.path("epoch-0003"))
        try FileManager.default.copyItem(atPath: RunDirectory(other).checkpointStore.path("epoch-0003"), toPath: store.path("epoch-0009"))
        let result = try train(["--resume", "--run-dir", run, "--epochs", "4", "--no-progress"])
        XCTAssertTrue(result.stdout.contains("resuming at epoch 3 of 4"), result.stdout)
        XCTAssertTrue(result.stdout.contains("ies: mlp"), "continued the other run's model: \(result.stdout)")
        XCTAssertTrue(result.stderr.contains("belongs to run"), result.stderr)
        XCTAssertTrue(result.stderr.contains("named epoch-0009 but holds epoch-0003"), result.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: store.directory)
        XCTAssertTrue(names.contains { $0.hasPrefix("epoch-0003.foreign-") }, "the other run's checkpoint was destroyed: \(names)")
        XCTAssertTrue(names.contains("epoch-0004") && names.contains("epoch-0003"), "\(names)")
        let meta = try LoadedCheckpoint(directory: store.path("epoch-0004")).meta
        XCTAssertEqual(meta.config.model.rawValue, "mlp")
        XCTAssertEqual(meta.runID, try RunIdentity.read(RunDirectory(run))?.id)
    }

    /// Without metrics.jsonl the directory still holds a run: a new training is refused.
    func testANewRunNeverOverwritesTheTracesOfOne() throws {
        let run = try runDirectory()
        try train(common + ["--epochs", "2", "--run-dir", run])
        try FileManager.default.removeItem(atPath: RunDirectory(run).metrics)
        let before = snapshot(run)
        let result = try train(common + ["--epochs", "2", "--seed", "9", "--run-dir", run], expect: 1)
        XCTAssertTrue(result.stderr.contains("already holds a run"), result.stderr)
        XCTAssertEqual(snapshot(run), before)
    }

    /// A digit changed in the newest meta.json (valid JSON still): skipped for the previous checkpoint.
    func testEditedMetaIsNotTrusted() throws {
        let run = try runDirectory()
        try train(common + ["--epochs", "2", "--lr", "0.001", "--run-dir", run])
        let path = RunDirectory(run).checkpointStore.path("epoch-0002/meta.json")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"lr\" : 0.001", with: "\"lr\" : 0.003").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertNotEqual(try String(contentsOfFile: path, encoding: .utf8), text, "the edit did not apply")
        let inspect = try Fixtures.runIES(["inspect", run], timeout: 60)
        XCTAssertTrue(inspect.stdout.contains("epoch-0001"), inspect.stdout)
        XCTAssertTrue(inspect.stderr.contains("checksum mismatch"), inspect.stderr)
        let result = try train(["--resume", "--run-dir", run, "--epochs", "3", "--no-progress"])
        XCTAssertTrue(result.stdout.contains("resuming at epoch 2 of 3"), result.stdout)
    }

    /// Two trainings on one directory at once: the second is refused while the first writes.
    func testTwoTrainingsAtOnceAreRefused() throws {
        let run = try runDirectory()
        let ies = try BuiltProducts.require("ies")
        let first = try Subprocess(ies, ["train", "--model", "mlp", "--limit", "3000", "--threads", "1", "--no-progress",
                                         "--epochs", "50", "--run-dir", run])
        defer {
            kill(first.pid, SIGKILL)
            _ = first.wait(timeout: 30)
        }
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: RunDirectory(run).metrics) && Date() < deadline { usleep(50_000) }
        let second = try train(["--resume", "auto", "--run-dir", run, "--no-progress"], expect: 1)
        XCTAssertTrue(second.stderr.contains("another training is writing into this run directory"), second.stderr)
    }

    func testRunDirectoryUnderAFileIsAOneLineError() throws {
        let base = try runDirectory()
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: base + "/file", contents: Data("x".utf8)))
        let result = try train(common + ["--epochs", "1", "--run-dir", base + "/file/run"], expect: 1)
        XCTAssertTrue(result.stderr.contains("is not a directory"), result.stderr)
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), result.stderr)
    }
}
