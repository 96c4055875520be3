import Datasets
import Foundation
import TestSupport
import XCTest

/// scripts/cifar-to-binary.py writes what DatasetLoader reads: cifar_convert_check.py makes a
/// small CIFAR-10 and CIFAR-100 in their Python version (pickles as the official archives
/// hold them), converts them, and lists the labels and images a reader must find.
final class CIFARConversionTests: XCTestCase {
    private struct Split: Decodable {
        let labels: [Int32]
        let images: String  // base64
    }

    private let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("cifar_convert_check.py").path

    /// The script's own checks: byte-exact records, archives, error messages, unsafe pickles.
    func testConverterPassesItsChecks() throws {
        let result = try Python.run([script])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains(" 0 failed"), result.output)
    }

    func testConvertedPythonVersionsLoadWithTheirLabelsAndImages() throws {
        let dir = try TemporaryDirectory()
        let result = try Python.run([script, "--example", dir.path])
        XCTAssertEqual(result.status, 0, result.output)
        let expected = try JSONDecoder().decode(
            [String: [String: Split]].self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("expected.json"))))

        for (name, format, classes) in [("cifar10", DatasetFormat.cifar10, 10), ("cifar100", .cifar100, 100)] {
            let splits = try DatasetLoader.load(directory: dir.file(name == "cifar10" ? "bin10" : "bin100"))
            XCTAssertEqual(splits.format, format)
            for (split, dataset) in [("train", splits.train), ("test", splits.test)] {
                let want = try XCTUnwrap(expected[name]?[split], "\(name) \(split) missing from expected.json")
                XCTAssertEqual(dataset.labels, want.labels, "\(name) \(split) labels")
                XCTAssertEqual(dataset.images, [UInt8](try XCTUnwrap(Data(base64Encoded: want.images))), "\(name) \(split) images")
                XCTAssertEqual(dataset.classCount, classes)
                XCTAssertEqual([dataset.channels, dataset.height, dataset.width], [3, 32, 32])
            }
        }
    }
}
