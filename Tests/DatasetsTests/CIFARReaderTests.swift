import Datasets
import Foundation
import TestSupport
import XCTest

/// CIFAR-10 / CIFAR-100 binary parsing, with record files generated at test time (a record is 3 KB).
final class CIFARReaderTests: XCTestCase {
    /// A 3x32x32 image whose bytes encode `seed` and the position, so misaligned reads show up.
    private func image(_ seed: Int) -> [UInt8] {
        (0..<3072).map { UInt8((seed * 31 + $0 * 7) & 0xff) }
    }

    private func cifar10Record(label: UInt8, seed: Int) -> [UInt8] { [label] + image(seed) }

    private func cifar100Record(coarse: UInt8, fine: UInt8, seed: Int) -> [UInt8] { [coarse, fine] + image(seed) }

    /// Batch b (1...5) holds records with seeds 2b-2, 2b-1 and labels seed % 10; the test batch holds seed 100.
    private func writeCIFAR10(in dir: TemporaryDirectory, prefix: String = "") throws {
        for b in 1...5 {
            let seeds = [2 * b - 2, 2 * b - 1]
            try dir.write(
                prefix + "data_batch_\(b).bin", seeds.flatMap { cifar10Record(label: UInt8($0 % 10), seed: $0) })
        }
        try dir.write(prefix + "test_batch.bin", cifar10Record(label: 9, seed: 100))
    }

    func testCIFAR10InSubdirectory() throws {
        let dir = try TemporaryDirectory()
        try writeCIFAR10(in: dir, prefix: "cifar-10-batches-bin/")
        let splits = try DatasetLoader.load(directory: dir.path)
        XCTAssertEqual(splits.format, .cifar10)
        XCTAssertEqual(splits.directory, dir.file("cifar-10-batches-bin"))
        XCTAssertEqual(splits.train.count, 10)
        XCTAssertEqual(splits.train.ids, Array(0..<10))
        XCTAssertEqual(splits.train.labels, (0..<10).map { Int32($0) })
        XCTAssertEqual([splits.train.channels, splits.train.height, splits.train.width], [3, 32, 32])
        XCTAssertEqual(splits.train.classCount, 10)
        XCTAssertEqual(Array(splits.train.images[(7 * 3072)..<(8 * 3072)]), image(7))
        XCTAssertEqual(splits.test.count, 1)
        XCTAssertEqual(splits.test.labels, [9])
        XCTAssertEqual(splits.test.images, image(100))
    }

    func testCIFAR100UsesFineLabel() throws {
        let dir = try TemporaryDirectory()
        try dir.write(
            "train.bin",
            cifar100Record(coarse: 3, fine: 42, seed: 1) + cifar100Record(coarse: 19, fine: 99, seed: 2))
        try dir.write("test.bin", cifar100Record(coarse: 0, fine: 7, seed: 3))
        let splits = try DatasetLoader.load(directory: dir.path, limit: 1)
        XCTAssertEqual(splits.format, .cifar100)
        XCTAssertEqual(splits.directory, dir.path)
        XCTAssertEqual(splits.train.labels, [42], "limit keeps only the first training record")
        XCTAssertEqual(splits.train.images, image(1))
        XCTAssertEqual(splits.train.classCount, 100)
        XCTAssertEqual(splits.test.labels, [7])
        XCTAssertEqual(splits.test.images, image(3))
    }

    func testCIFARTruncatedFile() throws {
        let dir = try TemporaryDirectory()
        try writeCIFAR10(in: dir)
        let path = dir.file("data_batch_3.bin")
        let bytes = cifar10Record(label: 1, seed: 1) + cifar10Record(label: 2, seed: 2)
        try dir.write("data_batch_3.bin", Array(bytes.dropLast(100)))
        assertLoadThrows(
            dir.path, .truncatedFile(file: path, expectedBytes: 2 * 3073, foundBytes: 2 * 3073 - 100), mentioning: path)
    }

    func testCIFAR100TruncatedFile() throws {
        let dir = try TemporaryDirectory()
        try dir.write("train.bin", Array(cifar100Record(coarse: 0, fine: 1, seed: 1).dropLast()))
        try dir.write("test.bin", cifar100Record(coarse: 0, fine: 1, seed: 1))
        assertLoadThrows(
            dir.path, .truncatedFile(file: dir.file("train.bin"), expectedBytes: 3074, foundBytes: 3073),
            mentioning: dir.file("train.bin"))
    }

    func testCIFAR10LabelOutOfRange() throws {
        let dir = try TemporaryDirectory()
        try writeCIFAR10(in: dir)
        try dir.write("test_batch.bin", cifar10Record(label: 0, seed: 0) + cifar10Record(label: 10, seed: 1))
        let path = dir.file("test_batch.bin")
        assertLoadThrows(dir.path, .labelOutOfRange(file: path, index: 1, value: 10, validRange: 0..<10), mentioning: path)
    }

    func testCIFAR100FineLabelOutOfRange() throws {
        let dir = try TemporaryDirectory()
        try dir.write("train.bin", cifar100Record(coarse: 1, fine: 100, seed: 1))
        try dir.write("test.bin", cifar100Record(coarse: 0, fine: 1, seed: 1))
        let path = dir.file("train.bin")
        assertLoadThrows(dir.path, .labelOutOfRange(file: path, index: 0, value: 100, validRange: 0..<100), mentioning: path)
    }

    func testCIFAR10MissingBatch() throws {
        let dir = try TemporaryDirectory()
        try writeCIFAR10(in: dir)
        try dir.remove("data_batch_4.bin")
        assertLoadThrows(dir.path, .missingFile(path: dir.file("data_batch_4.bin")), mentioning: dir.file("data_batch_4.bin"))
    }
}
