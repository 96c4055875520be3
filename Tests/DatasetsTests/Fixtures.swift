import Foundation
import TestSupport
import XCTest

import Datasets

/// The bundled tiny IDX set and byte builders for variants of it.
///
/// `Fixtures/idx-raw` and `Fixtures/idx-gz` hold the same data, raw and gzip:
/// 4 training images and 2 test images of 3 rows x 2 cols, listed below.
enum Fixtures {
    static let trainPixels: [UInt8] = [
        0, 255, 10, 20, 30, 40,
        1, 2, 3, 4, 5, 6,
        100, 101, 102, 103, 104, 105,
        250, 251, 252, 253, 254, 255,
    ]
    static let trainLabels: [UInt8] = [2, 0, 1, 2]
    static let testPixels: [UInt8] = [7, 8, 9, 10, 11, 12, 200, 0, 200, 0, 200, 0]
    static let testLabels: [UInt8] = [1, 0]

    static func directory(_ set: String) -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("Fixtures resource directory missing from the test bundle")
        }
        return url.appendingPathComponent(set).path
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func idxImages(count: Int, rows: Int, cols: Int, pixels: [UInt8], magic: UInt32 = 0x803) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols)) + pixels
    }

    static func idxLabels(_ labels: [UInt8], count: Int? = nil, magic: UInt32 = 0x801) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(count ?? labels.count)) + labels
    }

    /// Writes a complete raw IDX set into `dir`; pass overrides to corrupt one file.
    static func writeIDXSet(
        in dir: TemporaryDirectory,
        trainImages: [UInt8]? = nil, trainLabels: [UInt8]? = nil,
        testImages: [UInt8]? = nil, testLabels: [UInt8]? = nil
    ) throws {
        try dir.write(
            "train-images-idx3-ubyte", trainImages ?? idxImages(count: 4, rows: 3, cols: 2, pixels: trainPixels))
        try dir.write("train-labels-idx1-ubyte", trainLabels ?? idxLabels(Self.trainLabels))
        try dir.write("t10k-images-idx3-ubyte", testImages ?? idxImages(count: 2, rows: 3, cols: 2, pixels: testPixels))
        try dir.write("t10k-labels-idx1-ubyte", testLabels ?? idxLabels(Self.testLabels))
    }

    /// Contents of a bundled fixture file.
    static func bytes(_ set: String, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory(set) + "/" + name)))
    }
}

extension TemporaryDirectory {
    /// Copies every file of the fixture set `set` (e.g. "idx-raw") into this directory.
    func copyFixtureSet(_ set: String) throws {
        let source = Fixtures.directory(set)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: file(name))
        }
    }
}
