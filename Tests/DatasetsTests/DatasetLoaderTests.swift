import Datasets
import Foundation
import TestSupport
import XCTest

/// Directory-level behaviour: detection, errors for unusable directories, `limit`, and the real Fashion-MNIST.
final class DatasetLoaderTests: XCTestCase {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    func testMissingDirectory() {
        let path = "/nonexistent-\(UUID().uuidString)"
        assertLoadThrows(path, .missingDirectory(path: path), mentioning: path)
    }

    func testFileInsteadOfDirectory() throws {
        let dir = try TemporaryDirectory()
        try dir.write("plain", [1, 2, 3])
        assertLoadThrows(dir.file("plain"), .missingDirectory(path: dir.file("plain")))
    }

    func testDirectoryWithoutDatasetListsExpectedNames() throws {
        let dir = try TemporaryDirectory()
        try dir.write("README", Array("nothing here".utf8))
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            guard case let .noDatasetFiles(directory, lookedFor)? = error as? DatasetError else {
                return XCTFail("expected noDatasetFiles, got \(error)")
            }
            XCTAssertEqual(directory, dir.path)
            for name in ["train-images-idx3-ubyte.gz", "train-images.idx3-ubyte", "data_batch_1.bin", "train.bin"] {
                XCTAssertTrue(lookedFor.contains(name), "\(name) not listed")
                XCTAssertTrue("\(error)".contains(name))
            }
            XCTAssertFalse("\(error)".contains("\n"))
        }
    }

    func testLimitKeepsFirstTrainingInstancesOnly() throws {
        let splits = try DatasetLoader.load(directory: Fixtures.directory("idx-gz"), limit: 2)
        XCTAssertEqual(splits.train.count, 2)
        XCTAssertEqual(splits.train.ids, [0, 1])
        XCTAssertEqual(splits.train.images, Array(Fixtures.trainPixels.prefix(12)))
        XCTAssertEqual(splits.train.classCount, 3, "class count comes from the whole training file")
        XCTAssertEqual(splits.test.count, 2)
    }

    func testRealFashionMNIST() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: Self.fashionMNIST), "\(Self.fashionMNIST) not installed")
        let splits = try DatasetLoader.load(directory: Self.fashionMNIST, limit: 5000)
        XCTAssertEqual(splits.format, .idx)
        XCTAssertEqual(splits.train.count, 5000)
        XCTAssertEqual(splits.train.ids, Array(0..<5000))
        XCTAssertEqual(splits.train.images.count, 5000 * 784)
        XCTAssertEqual(splits.test.count, 10_000)
        XCTAssertEqual(splits.test.ids.last, 9999)
        for d in [splits.train, splits.test] {
            XCTAssertEqual([d.channels, d.height, d.width], [1, 28, 28])
            XCTAssertEqual(d.classCount, 10)
        }
        // Fashion-MNIST is balanced: every class has exactly 1,000 test images.
        var perClass = [Int](repeating: 0, count: 10)
        for label in splits.test.labels { perClass[Int(label)] += 1 }
        XCTAssertEqual(perClass, [Int](repeating: 1000, count: 10))
    }

    func testRealFashionMNISTWithoutLimit() throws {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: Self.fashionMNIST), "\(Self.fashionMNIST) not installed")
        let splits = try DatasetLoader.load(directory: Self.fashionMNIST)
        XCTAssertEqual(splits.train.count, 60_000)
        XCTAssertEqual(splits.train.images.count, 60_000 * 784)
        XCTAssertEqual(splits.train.ids.last, 59_999)
        XCTAssertEqual(splits.test.count, 10_000)
    }
}
