import Datasets
import Foundation
import RunFormat
import TestSupport
import XCTest

/// The same data as IDX or as NumPy files train the same model, byte for byte.
final class NPYTrainingTests: RunDirectoryTestCase {
    /// A `.npy` file (version 1.0) of `descr` items with `shape`, written here rather than by
    /// numpy: magic, version, header length, the dict padded to 64 bytes, the data.
    static func npy(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        let dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(dims), }"
        let padding = (64 - (10 + dict.utf8.count + 1) % 64) % 64
        let header = Array((dict + String(repeating: " ", count: padding) + "\n").utf8)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)] + header + data
    }

    /// The first 1,000 Fashion-MNIST training instances (and the first 500 test ones) as
    /// `(N, 28, 28)` uint8 images and int64 labels: 2 epochs of the mlp give the same
    /// model.safetensors bytes as the IDX files with the same flags.
    func testNumPyCopyOfFashionMNISTTrainsTheSameModel() throws {
        let splits = try Fixtures.fashion(limit: 1000)
        let data = try TemporaryDirectory("npy-fashion")
        func labels(_ values: [Int32]) -> [UInt8] {
            values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: Int64(value) >> (8 * $0)) } }
        }
        let test = splits.test.prefix(500)
        for (name, set) in [("train", splits.train), ("test", test)] {
            XCTAssertEqual([set.channels, set.height, set.width], [1, 28, 28])
            try data.write("\(name)_images.npy", Self.npy(descr: "|u1", shape: [set.count, 28, 28], data: set.images))
            try data.write("\(name)_labels.npy", Self.npy(descr: "<i8", shape: [set.count], data: labels(set.labels)))
        }
        let loaded = try DatasetLoader.load(directory: data.path)
        XCTAssertEqual(loaded.format, .numpy)
        XCTAssertEqual(loaded.train.classCount, splits.train.classCount)

        var models: [Data] = []
        var runs: [String] = []
        for directory in [Fixtures.fashionMNIST, data.path] {
            let run = try runDirectory()
            let result = try Fixtures.runIES([
                "train", "--data", directory, "--model", "mlp", "--epochs", "2", "--limit", "1000", "--test-limit", "500",
                "--threads", "1", "--no-progress", "--run-dir", run,
            ], timeout: 300)
            XCTAssertEqual(result.status, 0, result.stderr)
            models.append(try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")))
            runs.append(run)
        }
        XCTAssertFalse(models[0].isEmpty)
        XCTAssertEqual(models[0], models[1], "the model trained on the NumPy copy differs from the IDX one")

        // `ies eval` reads the NumPy test split too (and takes the layout flag).
        let eval = try Fixtures.runIES([
            "eval", "--model-file", runs[1] + "/model.safetensors", "--data", data.path, "--npy-layout", "nhwc",
            "--threads", "1",
        ])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("/500)"), eval.stdout)
    }

    /// Writes `splits` (limited to `train` and `test` instances) as NumPy files: images
    /// (N, 28, 28) uint8, labels int16 (so more than 256 classes fit); returns the directory.
    private func writeNumPy(train: Dataset, test: Dataset) throws -> TemporaryDirectory {
        let data = try TemporaryDirectory("npy-set")
        func labels(_ values: [Int32]) -> [UInt8] {
            values.flatMap { value in [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)] }
        }
        for (name, set) in [("train", train), ("test", test)] {
            try data.write("\(name)_images.npy", Self.npy(descr: "|u1", shape: [set.count, 28, 28], data: set.images))
            try data.write("\(name)_labels.npy", Self.npy(descr: "<i2", shape: [set.count], data: labels(set.labels)))
        }
        return data
    }

    /// Per-rank reading of .npy with rebalancing (class sharding on 3 ranks moves instances,
    /// bytes in the parcels) and a resume on another rank count: instances conserved, every
    /// epoch there.
    func testRebalancingAndResumeOnTheNumPyFormat() throws {
        let splits = try Fixtures.fashion(limit: 1500)
        let data = try writeNumPy(train: splits.train, test: splits.test.prefix(300))
        let run = try runDirectory()
        let common = ["--data", data.path, "--model", "mlp", "--threads", "1", "--no-progress", "--seed", "4",
                      "--shard-by", "class", "--ies-threshold", "0.05", "--run-dir", run]
        var result = try Fixtures.mpirunIES(ranks: 3, ["train", "--epochs", "6"] + common)
        XCTAssertEqual(result.status, 0, result.stderr)
        let before = try MetricsFile(path: RunDirectory(run).metrics).records
        XCTAssertGreaterThan(before.map(\.instancesMoved).reduce(0, +), 0, "class shards on 3 ranks should rebalance")
        result = try Fixtures.mpirunIES(
            ranks: 2, ["train", "--run-dir", run, "--resume", "--epochs", "8", "--threads", "1", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let metrics = try MetricsFile(path: RunDirectory(run).metrics).records
        XCTAssertEqual(metrics.map(\.epoch), Array(1...8))
        for m in metrics { XCTAssertEqual(m.trained + m.probed, 1500, "epoch \(m.epoch)") }
        XCTAssertEqual(metrics.last?.worldSize, 2)
    }

    /// 1,000 classes from files on disk (int16 labels): the mlp trains, and the per-class
    /// figures have 1,000 entries.
    func testAThousandClassesFromNumPyFiles() throws {
        let splits = try Fixtures.fashion(limit: 3000)
        var train = splits.train, test = splits.test.prefix(1000)
        train.labels = (0..<Int32(train.count)).map { $0 % 1000 }
        test.labels = (0..<Int32(test.count)).map { $0 % 1000 }
        let data = try writeNumPy(train: train, test: test)
        let run = try runDirectory()
        let result = try Fixtures.runIES([
            "train", "--data", data.path, "--model", "mlp", "--epochs", "2", "--threads", "1", "--no-progress",
            "--run-dir", run,
        ], timeout: 300)
        XCTAssertEqual(result.status, 0, result.stderr)
        let last = try XCTUnwrap(try MetricsFile(path: RunDirectory(run).metrics).records.last)
        XCTAssertEqual(last.masteredPerClass.count, 1000)
        XCTAssertEqual(last.instancesPerClass, [Int](repeating: 3, count: 1000))
    }
}
