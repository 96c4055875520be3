import Foundation
import TestSupport
import XCTest

/// scripts/images-to-npy.py and scripts/imagenet-batches-to-npy.py write the NumPy format:
/// npy_convert_check.py makes small inputs (an image folder with a corrupt file, pickled and
/// .npz down-sampled ImageNet batches with S = 8), the converters run on them here, and the
/// same script checks the arrays with numpy (shapes, dtypes, labels, known pixels).
/// Without numpy or Pillow the tests skip, or fail in CI (`Python.require`).
final class NPYConversionTests: XCTestCase {
    private static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    private let check = here.appendingPathComponent("npy_convert_check.py").path
    private let scripts = here.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts")
    private var imagesToNpy: String { scripts.appendingPathComponent("images-to-npy.py").path }
    private var batchesToNpy: String { scripts.appendingPathComponent("imagenet-batches-to-npy.py").path }

    /// Runs `python3 arguments...` and fails the test, with its output, unless it exits 0.
    @discardableResult
    private func succeed(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try Python.run(arguments, timeout: 180)
        XCTAssertTrue(result.succeeded, "\(arguments.joined(separator: " ")): \(result.output)", file: file, line: line)
        return result.output
    }

    /// Runs a converter that must refuse: exit 2 and one line on stderr containing `message`.
    private func refuse(
        _ arguments: [String], saying message: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try Python.run(arguments, timeout: 120)
        XCTAssertEqual(result.status, 2, "\(arguments.joined(separator: " ")): \(result.output)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n").filter { !$0.contains("note:") && !$0.contains(" img/s") }
        XCTAssertEqual(lines.count, 1, "one line of error: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "expected \"\(message)\" in: \(result.stderr)", file: file, line: line)
    }

    // MARK: - Image folders

    func testImageFolderConvertsResizedCroppedAndLabelled() throws {
        try Python.require("numpy", "PIL.Image")
        let dir = try TemporaryDirectory()
        try succeed([check, "images-fixture", dir.path])

        let output = try succeed([imagesToNpy, dir.file("folder"), dir.file("out"), "--size", "8", "--test-split", "0.25"])
        XCTAssertTrue(output.contains("warning: skipping \(dir.file("folder/gamma/broken.jpg"))"), output)
        XCTAssertTrue(output.contains("1 unreadable images skipped"), output)
        XCTAssertFalse(output.contains("notes.txt"), "files without an image extension are not read: \(output)")
        try succeed([imagesToNpy, dir.file("split"), dir.file("out-split"), "--size", "8", "--grey", "--jobs", "2"])

        let checked = try succeed([check, "images-check", dir.path])
        XCTAssertTrue(checked.contains(" 0 failed"), checked)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.file("out")).filter { $0.hasSuffix(".partial") }
        XCTAssertEqual(leftovers, [], "no .partial files once the conversion succeeded")
    }

    func testImageFolderErrorsAreOneLine() throws {
        try Python.require("numpy", "PIL.Image")
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.file("flat/empty-class"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("no-classes"), withIntermediateDirectories: true)
        try succeed([check, "images-fixture", dir.path])

        try refuse([imagesToNpy, dir.file("nowhere"), dir.file("out"), "--size", "8"], saying: "\(dir.file("nowhere")): no such directory")
        try refuse([imagesToNpy, dir.file("no-classes"), dir.file("out"), "--size", "8", "--test-split", "0.2"], saying: "no class folders")
        try refuse([imagesToNpy, dir.file("flat"), dir.file("out"), "--size", "8", "--test-split", "0.2"], saying: "no images")
        for size in ["0", "-3", "big", "100000"] {
            try refuse([imagesToNpy, dir.file("folder"), dir.file("out"), "--size", size, "--test-split", "0.2"], saying: "--size \(size)")
        }
        try refuse([imagesToNpy, dir.file("folder"), dir.file("out"), "--size", "8"], saying: "give --test-split")
        try refuse([imagesToNpy, dir.file("folder"), dir.file("out"), "--size", "8", "--test-split", "1.5"], saying: "--test-split 1.5")
        try refuse([imagesToNpy, dir.file("split"), dir.file("out"), "--size", "8", "--test-split", "0.2"], saying: "drop --test-split")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("out")), "nothing written on a refusal")
    }

    // MARK: - Down-sampled ImageNet batches

    func testDownsampledImageNetBatchesConvertFromPicklesAndNpz() throws {
        try Python.require("numpy")
        let dir = try TemporaryDirectory()
        try succeed([check, "batches-fixture", dir.path])

        let output = try succeed([batchesToNpy, dir.file("batches"), dir.file("out")])
        XCTAssertTrue(output.contains("train: 8 images 8x8x3 from 2 files"), output)
        XCTAssertTrue(output.contains("test: 4 images 8x8x3 from 1 files"), output)
        XCTAssertTrue(output.contains("3/3 files"), "progress on stderr: \(output)")
        try succeed([batchesToNpy, dir.file("npz"), dir.file("out-npz")])

        let checked = try succeed([check, "batches-check", dir.path])
        XCTAssertTrue(checked.contains(" 0 failed"), checked)
    }

    func testDownsampledImageNetErrorsNameTheFile() throws {
        try Python.require("numpy")
        let dir = try TemporaryDirectory()
        try succeed([check, "batches-fixture", dir.path])

        try refuse([batchesToNpy, dir.file("nowhere"), dir.file("out")], saying: "\(dir.file("nowhere")): no such directory")
        try refuse([batchesToNpy, dir.file("gap"), dir.file("out")], saying: "\(dir.file("gap/train_data_batch_2")): missing")
        try refuse([batchesToNpy, dir.file("label"), dir.file("out")], saying: "labels[1] = 0, expected 1..1000")
        try refuse([batchesToNpy, dir.file("width"), dir.file("out")], saying: "train_data_batch_2: images 4x4, but the earlier batches' are 8x8")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("out"))) ?? []
        XCTAssertEqual(leftovers, [], "a refused conversion leaves no files")
        try refuse([batchesToNpy, dir.file("batches")], saying: "usage")
    }
}
