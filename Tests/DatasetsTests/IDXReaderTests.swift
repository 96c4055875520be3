import Datasets
import Foundation
import TestSupport
import XCTest

/// IDX parsing through `DatasetLoader`: exact values, gzip/raw equivalence, and every malformed case.
final class IDXReaderTests: XCTestCase {
    private let trainImagesSize = 16 + 4 * 6

    func testRawFixtureIsReadExactly() throws {
        let splits = try DatasetLoader.load(directory: Fixtures.directory("idx-raw"))
        XCTAssertEqual(splits.format, .idx)
        XCTAssertEqual(splits.train.images, Fixtures.trainPixels)
        XCTAssertEqual(splits.train.labels, [2, 0, 1, 2])
        XCTAssertEqual(splits.train.ids, [0, 1, 2, 3])
        XCTAssertEqual(splits.train.channels, 1)
        XCTAssertEqual(splits.train.height, 3)
        XCTAssertEqual(splits.train.width, 2)
        XCTAssertEqual(splits.train.sampleSize, 6)
        XCTAssertEqual(splits.train.classCount, 3, "max training label 2 + 1")
        XCTAssertEqual(splits.test.images, Fixtures.testPixels)
        XCTAssertEqual(splits.test.labels, [1, 0])
        XCTAssertEqual(splits.test.ids, [0, 1])
        XCTAssertEqual(splits.test.classCount, 3, "test split uses the training class count")
    }

    func testGzipAndRawGiveIdenticalData() throws {
        let raw = try DatasetLoader.load(directory: Fixtures.directory("idx-raw"))
        let gz = try DatasetLoader.load(directory: Fixtures.directory("idx-gz"))
        XCTAssertEqual(gz.train.images, raw.train.images)
        XCTAssertEqual(gz.train.labels, raw.train.labels)
        XCTAssertEqual(gz.test.images, raw.test.images)
        XCTAssertEqual(gz.test.labels, raw.test.labels)
        XCTAssertEqual(gz.train.classCount, raw.train.classCount)
    }

    func testDottedFileNamesAreAccepted() throws {
        let dir = try TemporaryDirectory()
        try dir.copyFixtureSet("idx-gz")
        for stem in ["train-images", "train-labels", "t10k-images", "t10k-labels"] {
            let kind = stem.hasSuffix("images") ? "idx3-ubyte" : "idx1-ubyte"
            try FileManager.default.moveItem(
                atPath: dir.file("\(stem)-\(kind).gz"), toPath: dir.file("\(stem).\(kind).gz"))
        }
        let splits = try DatasetLoader.load(directory: dir.path)
        XCTAssertEqual(splits.train.images, Fixtures.trainPixels)
        XCTAssertEqual(splits.test.labels, [1, 0])
    }

    func testWrongImageMagic() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(
            in: dir, trainImages: Fixtures.idxImages(count: 4, rows: 3, cols: 2, pixels: Fixtures.trainPixels, magic: 0x801))
        let path = dir.file("train-images-idx3-ubyte")
        assertLoadThrows(dir.path, .wrongMagic(file: path, expected: 0x803, found: 0x801), mentioning: path)
    }

    func testWrongLabelMagicDescription() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, testLabels: Fixtures.idxLabels(Fixtures.testLabels, magic: 0x803))
        let path = dir.file("t10k-labels-idx1-ubyte")
        let expected = DatasetError.wrongMagic(file: path, expected: 0x801, found: 0x803)
        assertLoadThrows(dir.path, expected, mentioning: path)
        XCTAssertEqual(
            expected.description,
            "\(path): wrong magic number 0x00000803, expected 0x00000801 (IDX unsigned-byte labels, 1 dimension)")
    }

    func testTruncatedRawImagePayload() throws {
        let dir = try TemporaryDirectory()
        let full = Fixtures.idxImages(count: 4, rows: 3, cols: 2, pixels: Fixtures.trainPixels)
        try Fixtures.writeIDXSet(in: dir, trainImages: Array(full.dropLast(5)))
        let path = dir.file("train-images-idx3-ubyte")
        assertLoadThrows(
            dir.path, .truncatedFile(file: path, expectedBytes: trainImagesSize, foundBytes: trainImagesSize - 5),
            mentioning: path)
    }

    func testTruncatedHeader() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, trainLabels: Array(Fixtures.idxLabels(Fixtures.trainLabels).prefix(6)))
        let path = dir.file("train-labels-idx1-ubyte")
        assertLoadThrows(dir.path, .truncatedFile(file: path, expectedBytes: 8, foundBytes: 6), mentioning: path)
    }

    func testTruncatedGzipStream() throws {
        let dir = try TemporaryDirectory()
        try dir.copyFixtureSet("idx-gz")
        let name = "train-images-idx3-ubyte.gz"
        let gz = try Fixtures.bytes("idx-gz", name)
        // Cut inside the deflate data, and separately drop only the CRC/size trailer.
        for cut in [gz.count / 2, gz.count - 8] {
            try dir.write(name, Array(gz.prefix(cut)))
            XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path), "cut at \(cut)") { error in
                guard case let .corruptGzip(file, message)? = error as? DatasetError else {
                    return XCTFail("expected corruptGzip, got \(error)")
                }
                XCTAssertEqual(file, dir.file(name))
                XCTAssertFalse(message.isEmpty)
                XCTAssertTrue("\(error)".contains(dir.file(name)))
            }
        }
    }

    func testCorruptGzipChecksum() throws {
        let dir = try TemporaryDirectory()
        try dir.copyFixtureSet("idx-gz")
        let name = "t10k-labels-idx1-ubyte.gz"
        var gz = try Fixtures.bytes("idx-gz", name)
        gz[gz.count - 8] ^= 0xff  // first CRC-32 byte of the trailer
        try dir.write(name, gz)
        assertLoadThrows(
            dir.path, .corruptGzip(file: dir.file(name), message: "incorrect data check"), mentioning: dir.file(name))
    }

    func testTrailingBytesAreRejected() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(
            in: dir, trainImages: Fixtures.idxImages(count: 4, rows: 3, cols: 2, pixels: Fixtures.trainPixels + [9, 9]))
        let path = dir.file("train-images-idx3-ubyte")
        assertLoadThrows(
            dir.path, .trailingBytes(file: path, expectedBytes: trainImagesSize, foundBytes: trainImagesSize + 2),
            mentioning: path)
    }

    func testImageLabelCountMismatch() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, trainLabels: Fixtures.idxLabels([2, 0, 1]))
        assertLoadThrows(
            dir.path,
            .countMismatch(
                imagesFile: dir.file("train-images-idx3-ubyte"), imageCount: 4,
                labelsFile: dir.file("train-labels-idx1-ubyte"), labelCount: 3),
            mentioning: dir.file("train-labels-idx1-ubyte"))
    }

    func testTestLabelOutOfTrainingRange() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, testLabels: Fixtures.idxLabels([1, 3]))
        let path = dir.file("t10k-labels-idx1-ubyte")
        assertLoadThrows(dir.path, .labelOutOfRange(file: path, index: 1, value: 3, validRange: 0..<3), mentioning: path)
    }

    func testZeroSizedImagesAreRejected() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, trainImages: Fixtures.idxImages(count: 4, rows: 0, cols: 2, pixels: []))
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            guard case let .badDimensions(file, _)? = error as? DatasetError else {
                return XCTFail("expected badDimensions, got \(error)")
            }
            XCTAssertEqual(file, dir.file("train-images-idx3-ubyte"))
        }
    }

    func testTestImageSizeMustMatchTraining() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(
            in: dir, testImages: Fixtures.idxImages(count: 2, rows: 2, cols: 3, pixels: Fixtures.testPixels))
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            guard case let .badDimensions(file, _)? = error as? DatasetError else {
                return XCTFail("expected badDimensions, got \(error)")
            }
            XCTAssertEqual(file, dir.file("t10k-images-idx3-ubyte"))
        }
    }

    func testMissingTestFileListsAcceptedNames() throws {
        let dir = try TemporaryDirectory()
        try dir.copyFixtureSet("idx-gz")
        try dir.remove("t10k-images-idx3-ubyte.gz")
        assertLoadThrows(
            dir.path,
            .missingFile(
                path: dir.file("t10k-images-idx3-ubyte"),
                alternatives: ["t10k-images-idx3-ubyte.gz", "t10k-images.idx3-ubyte", "t10k-images.idx3-ubyte.gz"]),
            mentioning: dir.file("t10k-images-idx3-ubyte"))
    }
}
