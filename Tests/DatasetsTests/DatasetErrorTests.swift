import Datasets
import XCTest

/// Every error renders as one actionable line naming its file.
final class DatasetErrorTests: XCTestCase {
    func testDescriptionsAreSingleLinesNamingThePath() {
        let f = "/d/file.gz"
        let cases: [DatasetError] = [
            .missingDirectory(path: f),
            .noDatasetFiles(directory: f, lookedFor: ["a", "b"]),
            .missingFile(path: f),
            .missingFile(path: f, alternatives: ["x"]),
            .unreadableFile(file: f, message: "Permission denied"),
            .corruptGzip(file: f, message: "unexpected end of file"),
            .wrongMagic(file: f, expected: 0x803, found: 0x1f8b0808),
            .truncatedFile(file: f, expectedBytes: 10, foundBytes: 5),
            .trailingBytes(file: f, expectedBytes: 10, foundBytes: 12),
            .countMismatch(imagesFile: "/d/images", imageCount: 3, labelsFile: f, labelCount: 2),
            .labelOutOfRange(file: f, index: 4, value: 12, validRange: 0..<10),
            .badDimensions(file: f, reason: "image size 0x28"),
            .notNumPy(file: f, found: [0x1f, 0x8b, 8, 8]),
            .unsupportedNumPyVersion(file: f, major: 4, minor: 0),
            .malformedNumPyHeader(file: f, reason: "missing 'shape'"),
            .unsupportedDType(file: f, found: "<f4", accepted: "uint8"),
            .fortranOrder(file: f),
            .unsupportedShape(file: f, shape: [3, 1], expected: "labels of shape (N,)"),
        ]
        for error in cases {
            XCTAssertTrue(error.description.hasPrefix(f + ": "), error.description)
            XCTAssertFalse(error.description.contains("\n"), error.description)
        }
    }

    func testDescriptionsSpellOutExpectations() {
        XCTAssertEqual(
            DatasetError.notNumPy(file: "/d/x.npy", found: [0x1f, 0x8b, 8, 8, 0, 0]).description,
            "/d/x.npy: not a NumPy .npy file: starts with 1f 8b 08 08 00 00, expected 93 4e 55 4d 50 59 "
                + "(\"\\x93NUMPY\"); write it with np.save")
        XCTAssertEqual(
            DatasetError.unsupportedShape(file: "/d/l.npy", shape: [3, 1], expected: "labels of shape (N,)").description,
            "/d/l.npy: shape (3, 1) is not accepted; expected labels of shape (N,)")
        XCTAssertEqual(
            DatasetError.unsupportedNumPyVersion(file: "/d/x.npy", major: 4, minor: 0).description,
            "/d/x.npy: .npy format version 4.0, expected 1.0, 2.0 or 3.0")
        XCTAssertEqual(
            DatasetError.wrongMagic(file: "/d/x", expected: 0x803, found: 0x1f8b0808).description,
            "/d/x: wrong magic number 0x1f8b0808, expected 0x00000803 (IDX unsigned-byte images, 3 dimensions)")
        XCTAssertEqual(
            DatasetError.labelOutOfRange(file: "/d/t", index: 4, value: 12, validRange: 0..<10).description,
            "/d/t: label 12 at index 4 is outside the valid range 0..<10")
        XCTAssertEqual(
            DatasetError.trailingBytes(file: "/d/x", expectedBytes: 10, foundBytes: 12).description,
            "/d/x: 2 unexpected trailing bytes, expected exactly 10 bytes but found 12")
        XCTAssertEqual(
            DatasetError.countMismatch(imagesFile: "/d/i", imageCount: 3, labelsFile: "/d/l", labelCount: 2).description,
            "/d/l: holds 2 labels but /d/i holds 3 images; they must match")
    }
}
