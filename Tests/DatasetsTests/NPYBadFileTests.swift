import Foundation
import TestSupport
import XCTest
import Datasets

/// `.npy` files that are not what they should be: each problem is one line naming the file.
final class NPYBadFileTests: XCTestCase {

    func testWrongMagic() throws {
        let dir = try TemporaryDirectory()
        var bytes = NPYTests.npy(descr: "|u1", shape: [4, 3, 2], data: Fixtures.trainPixels)
        bytes[1] = UInt8(ascii: "X")
        try NPYTests.writeSet(in: dir, ["train_images.npy": bytes])
        let path = dir.file("train_images.npy")
        assertLoadThrows(dir.path, .notNumPy(file: path, found: Array(bytes[0..<6])), mentioning: path)
        // An IDX file renamed .npy says what it is not.
        try NPYTests.writeSet(in: dir, ["train_images.npy": Fixtures.idxImages(count: 4, rows: 3, cols: 2, pixels: Fixtures.trainPixels)])
        assertLoadThrows(dir.path, .notNumPy(file: path, found: [0, 0, 8, 3, 0, 0]), mentioning: path)
    }

    func testUnsupportedVersion() throws {
        let dir = try TemporaryDirectory()
        var bytes = NPYTests.npy(descr: "|u1", shape: [4], data: Fixtures.trainLabels)
        bytes[6] = 4
        try NPYTests.writeSet(in: dir, ["train_labels.npy": bytes])
        let path = dir.file("train_labels.npy")
        assertLoadThrows(dir.path, .unsupportedNumPyVersion(file: path, major: 4, minor: 0), mentioning: path)
    }

    func testTruncatedHeaderAndData() throws {
        let dir = try TemporaryDirectory()
        let whole = NPYTests.npy(descr: "|u1", shape: [4, 3, 2], data: Fixtures.trainPixels)
        let path = dir.file("train_images.npy")
        let offset = whole.count - Fixtures.trainPixels.count
        for (cut, expected) in [(0, 10), (5, 10), (9, 10), (40, offset), (offset + 3, whole.count)] {
            try NPYTests.writeSet(in: dir, ["train_images.npy": Array(whole.prefix(cut))])
            assertLoadThrows(dir.path, .truncatedFile(file: path, expectedBytes: expected, foundBytes: cut), mentioning: path)
        }
    }

    func testTrailingBytes() throws {
        let dir = try TemporaryDirectory()
        let bytes = NPYTests.npy(descr: "|u1", shape: [2], data: Fixtures.testLabels + [0])
        try NPYTests.writeSet(in: dir, ["test_labels.npy": bytes])
        let path = dir.file("test_labels.npy")
        assertLoadThrows(
            dir.path, .trailingBytes(file: path, expectedBytes: bytes.count - 1, foundBytes: bytes.count), mentioning: path)
    }

    func testMalformedHeaders() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("train_labels.npy")
        let dicts = [
            "['descr', '|u1']",
            "{'descr': '|u1', 'fortran_order': False}",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4), }",
            "{'descr': '|u1', 'fortran_order': false, 'shape': (4,), }",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), 'extra': 1}",
            "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (4,)}",
            "{'descr': [('a', '<u1')], 'fortran_order': False, 'shape': (4,), }",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (-4,), }",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), } x",
        ]
        for dict in dicts {
            try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(descr: "", shape: [], data: Fixtures.trainLabels, dict: dict)])
            XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path), dict) { error in
                guard case .malformedNumPyHeader(let file, _)? = error as? DatasetError else {
                    return XCTFail("\(dict): \(error)")
                }
                XCTAssertEqual(file, path)
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        // Keys in another order and without the trailing comma are fine.
        try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(
            descr: "", shape: [], data: Fixtures.trainLabels,
            dict: "{\"shape\": (4,), 'fortran_order': False, 'descr': '|u1'}")])
        XCTAssertEqual(try DatasetLoader.load(directory: dir.path).train.labels, [2, 0, 1, 2])
    }

    func testUnsupportedDTypes() throws {
        let dir = try TemporaryDirectory()
        let labels = dir.file("train_labels.npy")
        try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(descr: "<f4", shape: [4], data: [UInt8](repeating: 0, count: 16))])
        assertLoadThrows(
            dir.path, .unsupportedDType(file: labels, found: "<f4", accepted: NPYFile.DType.accepted), mentioning: labels)
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("uint8/16/32/64"), "\(error)")
        }
        // Images must be uint8 (an integer type other than it is refused too).
        let images = dir.file("train_images.npy")
        try NPYTests.writeSet(in: dir, ["train_images.npy": NPYTests.npy(
            descr: "<i2", shape: [4, 3, 2], data: NPYTests.encode(Fixtures.trainPixels.map(Int.init), descr: "<i2"))])
        assertLoadThrows(
            dir.path, .unsupportedDType(file: images, found: "<i2", accepted: "uint8 images ('|u1')"), mentioning: images)
    }

    func testFortranOrder() throws {
        let dir = try TemporaryDirectory()
        try NPYTests.writeSet(in: dir, ["train_images.npy": NPYTests.npy(
            descr: "|u1", shape: [4, 3, 2], fortran: true, data: Fixtures.trainPixels)])
        let path = dir.file("train_images.npy")
        assertLoadThrows(dir.path, .fortranOrder(file: path), mentioning: path)
    }

    func testShapesNotAccepted() throws {
        let dir = try TemporaryDirectory()
        let labels = dir.file("train_labels.npy")
        try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(descr: "|u1", shape: [4, 1], data: Fixtures.trainLabels)])
        assertLoadThrows(
            dir.path, .unsupportedShape(file: labels, shape: [4, 1], expected: "labels of shape (N,)"), mentioning: labels)
        let images = dir.file("train_images.npy")
        try NPYTests.writeSet(in: dir, ["train_images.npy": NPYTests.npy(descr: "|u1", shape: [4, 6], data: Fixtures.trainPixels)])
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(images): shape (4, 6) is not accepted"), "\(error)")
        }
    }

    func testLabelCountDiffers() throws {
        let dir = try TemporaryDirectory()
        try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(descr: "|u1", shape: [3], data: [0, 1, 2])])
        let labels = dir.file("train_labels.npy")
        assertLoadThrows(
            dir.path,
            .countMismatch(imagesFile: dir.file("train_images.npy"), imageCount: 4, labelsFile: labels, labelCount: 3),
            mentioning: labels)
    }

    func testLabelsOutOfRange() throws {
        let dir = try TemporaryDirectory()
        let train = dir.file("train_labels.npy")
        let cases: [(Int, Range<Int>)] = [(-1, 0..<100_000), (100_000, 0..<100_000)]
        for (bad, range) in cases {
            try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(
                descr: "<i4", shape: [4], data: NPYTests.encode([2, 0, bad, 1], descr: "<i4"))])
            assertLoadThrows(dir.path, .labelOutOfRange(file: train, index: 2, value: bad, validRange: range), mentioning: train)
        }
        // A gap in the training classes, as for IDX.
        try NPYTests.writeSet(in: dir, ["train_labels.npy": NPYTests.npy(descr: "|u1", shape: [4], data: [3, 0, 1, 3])])
        assertLoadThrows(dir.path, .classesWithoutInstances(file: train, largestLabel: 3, index: 0, empty: [2]), mentioning: train)
        // Test labels must be below the training classes (3 here).
        let test = dir.file("test_labels.npy")
        try NPYTests.writeSet(in: dir, ["test_labels.npy": NPYTests.npy(descr: ">i8", shape: [2], data: NPYTests.encode([1, 3], descr: ">i8"))])
        assertLoadThrows(dir.path, .labelOutOfRange(file: test, index: 1, value: 3, validRange: 0..<3), mentioning: test)
    }

    func testTwoFormatsInOneDirectoryAreRefused() throws {
        let dir = try TemporaryDirectory()
        try NPYTests.writeSet(in: dir)
        try Fixtures.writeIDXSet(in: dir)
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            guard case .mixedFormats(let directory, let found)? = error as? DatasetError else { return XCTFail("\(error)") }
            XCTAssertEqual(directory, dir.path)
            XCTAssertEqual(found.count, 2)
            XCTAssertTrue(found.contains("NumPy (\(dir.file("train_images.npy")))"), "\(found)")
        }
    }

    func testMissingCompanionFile() throws {
        let dir = try TemporaryDirectory()
        try NPYTests.writeSet(in: dir)
        try dir.remove("test_labels.npy")
        let path = dir.file("test_labels.npy")
        assertLoadThrows(dir.path, .missingFile(path: path), mentioning: path)
    }
}
