import Foundation
import RunFormat
import TestSupport
import XCTest

/// The newest-valid-checkpoint rule: every check that makes a checkpoint invalid, and the
/// fallback to the previous valid one.
final class CheckpointStoreTests: XCTestCase {
    struct Config: Codable, Sendable, Equatable {
        var lr: Double
        var seed: Int
    }

    private func meta(epoch: Int) -> CheckpointMeta<Config> {
        CheckpointMeta(
            epoch: epoch, worldSize: 1, config: Config(lr: 0.001, seed: 0),
            dataset: DatasetFingerprint(trainCount: 10, testCount: 5, shape: [1, 2, 2], classes: 2, digest: "ab"),
            mastered: 0, masteredPerRank: [0], trainedSoFar: 10 * epoch, bestTestAccuracy: 0.5, bestEpoch: 1,
            created: "now", runID: "run-1")
    }

    private func store(_ directory: TemporaryDirectory, epochs: ClosedRange<Int>) throws -> CheckpointStore {
        let store = RunDirectory(directory.path).checkpointStore
        for epoch in epochs {
            try store.write(files: [("a.bin", [UInt8](repeating: UInt8(epoch), count: 100))], meta: meta(epoch: epoch), keep: 5)
        }
        return store
    }

    func testWrittenCheckpointsVerifyAndTheNewestIsChosen() throws {
        let directory = try TemporaryDirectory("store")
        let store = try self.store(directory, epochs: 1...3)
        XCTAssertEqual(store.checkpointNames(), ["epoch-0003", "epoch-0002", "epoch-0001"])
        let (newest, warnings) = try store.newestValid(Config.self)
        XCTAssertEqual(newest.meta.epoch, 3)
        XCTAssertEqual(newest.meta.runID, "run-1")
        XCTAssertEqual(newest.files["a.bin"], [UInt8](repeating: 3, count: 100))
        XCTAssertEqual(warnings, [])
        let sums = try String(contentsOfFile: store.path("epoch-0003/SHA256SUMS"), encoding: .utf8)
        XCTAssertTrue(sums.contains("  meta.json\n") && sums.contains("  a.bin\n"), sums)
    }

    /// A digit changed in meta.json that leaves it valid JSON (lr 0.001 -> 0.003) is caught
    /// by SHA256SUMS, and the previous checkpoint is used.
    func testEditedMetaIsSkippedForThePreviousCheckpoint() throws {
        let directory = try TemporaryDirectory("store-meta")
        let store = try self.store(directory, epochs: 1...2)
        let path = store.path("epoch-0002/meta.json")
        let edited = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "0.001", with: "0.003")
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        let (newest, warnings) = try store.newestValid(Config.self)
        XCTAssertEqual(newest.meta.epoch, 1)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("meta.json") && warnings[0].contains("checksum mismatch"), warnings[0])
    }

    /// meta.json that no longer parses: skipped likewise, not the end of the run.
    func testUnparsableMetaIsSkipped() throws {
        let directory = try TemporaryDirectory("store-json")
        let store = try self.store(directory, epochs: 1...2)
        try "{ not json".write(toFile: store.path("epoch-0002/meta.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try store.newestValid(Config.self).checkpoint.meta.epoch, 1)
    }

    /// A checkpoint copied in under another name (its epoch inside disagrees) is refused.
    func testFolderNameMustAgreeWithTheEpochInside() throws {
        let directory = try TemporaryDirectory("store-name")
        let store = try self.store(directory, epochs: 1...2)
        try FileManager.default.copyItem(atPath: store.path("epoch-0001"), toPath: store.path("epoch-0005"))
        let (newest, warnings) = try store.newestValid(Config.self)
        XCTAssertEqual(newest.meta.epoch, 2)
        XCTAssertTrue(warnings.first?.contains("named epoch-0005 but holds epoch-0001") ?? false, "\(warnings)")
    }

    func testDataFileChangedOrMissing() throws {
        let directory = try TemporaryDirectory("store-data")
        let store = try self.store(directory, epochs: 1...3)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: store.path("epoch-0003/a.bin")))
        try FileManager.default.removeItem(atPath: store.path("epoch-0002/a.bin"))
        let (newest, warnings) = try store.newestValid(Config.self)
        XCTAssertEqual(newest.meta.epoch, 1)
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
    }

    func testNoValidCheckpointSaysWhyForEach() throws {
        let directory = try TemporaryDirectory("store-none")
        let store = try self.store(directory, epochs: 1...1)
        try FileManager.default.removeItem(atPath: store.path("epoch-0001/SHA256SUMS"))
        XCTAssertThrowsError(try store.newestValid(Config.self)) { error in
            guard case RunFormatError.noCheckpoint(_, let problems) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(problems.count, 1)
            XCTAssertTrue(problems[0].contains("SHA256SUMS"), problems[0])
        }
        let empty = try TemporaryDirectory("store-empty")
        XCTAssertThrowsError(try CheckpointStore.resolve(empty.path, Config.self)) { error in
            XCTAssertTrue("\(error)".contains("no checkpoint"), "\(error)")
        }
    }
}
