import Datasets
import Foundation
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
        let (status, output) = try runPython([script])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains(" 0 failed"), output)
    }

    func testConvertedPythonVersionsLoadWithTheirLabelsAndImages() throws {
        let dir = try TemporaryDirectory()
        let (status, output) = try runPython([script, "--example", dir.path])
        XCTAssertEqual(status, 0, output)
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

    /// Runs python3 with `arguments`; skips (fails in CI) when there is no python3.
    private func runPython(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 127 {
            let message = "python3 is unavailable: \(output)"
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail(message) }
            throw XCTSkip(message)
        }
        return (process.terminationStatus, output)
    }
}
