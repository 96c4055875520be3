import Foundation
import TestSupport
import XCTest

import Datasets

/// NumPy `.npy` files: the header parser (versions 1.0, 2.0, 3.0) on hand-written bytes, so
/// it is tested without numpy; every integer label dtype and byte order; the three image
/// layouts; each bad file gives a one-line error naming it. Files written by numpy itself
/// (`np.save`, `np.lib.format.write_array`) check that we read what users write.
final class NPYTests: XCTestCase {
    // MARK: - Hand-written files

    /// A `.npy` file as numpy lays it out: magic, version, header length, the dict padded
    /// with spaces to a multiple of 64 bytes ending in "\n", then `data`.
    static func npy(
        descr: String, shape: [Int], fortran: Bool = false, version: UInt8 = 1, data: [UInt8], dict: String? = nil
    ) -> [UInt8] {
        let text = dict ?? "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), "
            + "'shape': \(NPYFile.shapeText(shape)), }"
        let fieldSize = version == 1 ? 2 : 4
        let unpadded = 8 + fieldSize + text.utf8.count + 1
        let header = Array((text + String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n").utf8)
        let length = (0..<fieldSize).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
        return NPYFile.magic + [version, 0] + length + header + data
    }

    /// The bundled IDX fixture's data as a NumPy set (images (N, 3, 2), labels uint8), with
    /// any file replaced by `overrides` (file name to bytes).
    static func writeSet(in dir: TemporaryDirectory, version: UInt8 = 1, _ overrides: [String: [UInt8]] = [:]) throws {
        let files: [String: [UInt8]] = [
            "train_images.npy": npy(descr: "|u1", shape: [4, 3, 2], version: version, data: Fixtures.trainPixels),
            "train_labels.npy": npy(descr: "|u1", shape: [4], version: version, data: Fixtures.trainLabels),
            "test_images.npy": npy(descr: "|u1", shape: [2, 3, 2], version: version, data: Fixtures.testPixels),
            "test_labels.npy": npy(descr: "|u1", shape: [2], version: version, data: Fixtures.testLabels),
        ]
        for (name, bytes) in files.merging(overrides, uniquingKeysWith: { $1 }) { try dir.write(name, bytes) }
    }

    /// `values` as items of `descr` ("<i4", ">u2", "|i1").
    static func encode(_ values: [Int], descr: String) -> [UInt8] {
        let dtype = NPYFile.DType(descr: descr)!
        return values.flatMap { value -> [UInt8] in
            let little = (0..<dtype.itemSize).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
            return dtype.bigEndian ? little.reversed() : little
        }
    }

    func testHandWrittenVersionsReadAsTheIDXFixture() throws {
        let idx = try DatasetLoader.load(directory: Fixtures.directory("idx-raw"))
        for version: UInt8 in [1, 2, 3] {
            let dir = try TemporaryDirectory()
            try Self.writeSet(in: dir, version: version)
            let splits = try DatasetLoader.load(directory: dir.path)
            XCTAssertEqual(splits.format, .numpy)
            for (ours, theirs) in [(splits.train, idx.train), (splits.test, idx.test)] {
                XCTAssertEqual(ours.images, theirs.images, "version \(version)")
                XCTAssertEqual(ours.labels, theirs.labels, "version \(version)")
                XCTAssertEqual(ours.ids, theirs.ids)
                XCTAssertEqual([ours.channels, ours.height, ours.width], [1, 3, 2])
                XCTAssertEqual(ours.classCount, 3)
            }
            let file = try NPYFile(path: dir.file("train_images.npy"))
            XCTAssertEqual(file.version, "\(version).0")
            XCTAssertEqual(file.dtype, .uint8)
            XCTAssertEqual(file.shape, [4, 3, 2])
            XCTAssertFalse(file.fortranOrder)
            XCTAssertEqual(file.dataOffset % 64, 0, "numpy aligns the data to 64 bytes")
            XCTAssertEqual(file.dataOffset + 24, try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
            XCTAssertEqual([file.count, file.recordSize, file.dataSize], [4, 6, 24])
        }
    }

    /// What a per-rank reader needs: records by range, at `dataOffset + i * recordSize`.
    func testRecordsReadByRange() throws {
        let dir = try TemporaryDirectory()
        try Self.writeSet(in: dir)
        let file = try NPYFile(path: dir.file("train_images.npy"))
        XCTAssertEqual(try file.readRecords(1..<3), Array(Fixtures.trainPixels[6..<18]))
        XCTAssertEqual(try file.readRecords(), Fixtures.trainPixels)
        XCTAssertEqual(try file.readRecords(4..<4), [])
        let labels = try NPYFile(path: dir.file("train_labels.npy"))
        XCTAssertEqual(try labels.integers(2..<4), [1, 2])
    }

    func testEveryIntegerLabelDTypeInBothByteOrders() throws {
        let labels = [2, 0, 1, 2]
        var descrs = ["|u1", "|i1"]
        for kind in ["u", "i"] {
            for size in [2, 4, 8] { descrs += ["<\(kind)\(size)", ">\(kind)\(size)"] }
        }
        for descr in descrs {
            let dir = try TemporaryDirectory()
            try Self.writeSet(in: dir, [
                "train_labels.npy": Self.npy(descr: descr, shape: [4], data: Self.encode(labels, descr: descr)),
                "test_labels.npy": Self.npy(descr: descr, shape: [2], data: Self.encode([1, 0], descr: descr)),
            ])
            let splits = try DatasetLoader.load(directory: dir.path)
            XCTAssertEqual(splits.train.labels, [2, 0, 1, 2], descr)
            XCTAssertEqual(splits.test.labels, [1, 0], descr)
        }
        // Sign extension and the largest values of each width.
        XCTAssertEqual(NPYFile.integers([0xff, 0xfe], dtype: NPYFile.DType(descr: ">i2")!), [-2])
        XCTAssertEqual(NPYFile.integers([0xff, 0xff], dtype: NPYFile.DType(descr: "<u2")!), [65535])
        XCTAssertEqual(NPYFile.integers(Self.encode([-7], descr: "<i8"), dtype: NPYFile.DType(descr: "<i8")!), [-7])
        XCTAssertEqual(NPYFile.integers([UInt8](repeating: 0xff, count: 8), dtype: NPYFile.DType(descr: "<u8")!), [Int.max])
    }

    /// Two 2x2 RGB images, pixel p of image n, channel c holding 100 n + 10 c + p.
    func testLayoutsGiveTheSameCHWImages() throws {
        var expected: [UInt8] = []
        var nhwc: [UInt8] = []
        for n in 0..<2 {
            for c in 0..<3 {
                for p in 0..<4 { expected.append(UInt8(100 * n + 10 * c + p)) }
            }
            for p in 0..<4 {
                for c in 0..<3 { nhwc.append(UInt8(100 * n + 10 * c + p)) }
            }
        }
        let nchw = expected
        for (shape, pixels) in [([2, 3, 2, 2], nchw), ([2, 2, 2, 3], nhwc)] {
            let dir = try TemporaryDirectory()
            try Self.writeSet(in: dir, [
                "train_images.npy": Self.npy(descr: "|u1", shape: shape, data: pixels),
                "train_labels.npy": Self.npy(descr: "|u1", shape: [2], data: [0, 1]),
                "test_images.npy": Self.npy(descr: "|u1", shape: shape, data: pixels),
                "test_labels.npy": Self.npy(descr: "|u1", shape: [2], data: [1, 1]),
            ])
            let splits = try DatasetLoader.load(directory: dir.path)
            XCTAssertEqual([splits.train.channels, splits.train.height, splits.train.width], [3, 2, 2], "\(shape)")
            XCTAssertEqual(splits.train.images, expected, "\(shape)")
            XCTAssertEqual(splits.test.images, expected, "\(shape)")
        }
    }

    func testTheAutoRuleAndForcedLayouts() throws {
        func resolve(_ shape: [Int], _ layout: NPYLayout = .auto) throws -> [Int] {
            let r = try layout.resolve(shape, path: "x.npy")
            return [r.layout == .nhwc ? 1 : 0, r.channels, r.height, r.width]
        }
        XCTAssertEqual(try resolve([5, 28, 28]), [0, 1, 28, 28])
        XCTAssertEqual(try resolve([5, 28, 28], .nhwc), [0, 1, 28, 28])
        XCTAssertEqual(try resolve([5, 32, 32, 3]), [1, 3, 32, 32])
        XCTAssertEqual(try resolve([5, 3, 32, 32]), [0, 3, 32, 32])
        XCTAssertEqual(try resolve([5, 1, 28, 28]), [0, 1, 28, 28])
        XCTAssertEqual(try resolve([5, 28, 28, 1]), [1, 1, 28, 28])
        XCTAssertEqual(try resolve([5, 4, 8, 8]), [0, 4, 8, 8])
        XCTAssertEqual(try resolve([5, 3, 32, 3]), [1, 3, 3, 32], "both could be channels: NHWC")
        XCTAssertEqual(try resolve([5, 3, 32, 3], .nchw), [0, 3, 32, 3])
        XCTAssertEqual(try resolve([5, 2, 8, 8], .nchw), [0, 2, 8, 8])
        XCTAssertEqual(try resolve([5, 8, 8, 2], .nhwc), [1, 2, 8, 8])
        XCTAssertThrowsError(try resolve([5, 2, 8, 8])) { error in
            XCTAssertTrue("\(error)".hasPrefix("x.npy: shape (5, 2, 8, 8) is not accepted"), "\(error)")
            XCTAssertTrue("\(error)".contains("nhwc or nchw"), "\(error)")
        }
        XCTAssertThrowsError(try resolve([5, 28]))
        XCTAssertThrowsError(try resolve([5, 28, 28, 1, 1]))
        XCTAssertThrowsError(try resolve([5, 0, 28]))

        let dir = try TemporaryDirectory()
        let pixels = [UInt8](0..<32)
        try Self.writeSet(in: dir, [
            "train_images.npy": Self.npy(descr: "|u1", shape: [2, 2, 2, 4], data: pixels),
            "train_labels.npy": Self.npy(descr: "|u1", shape: [2], data: [0, 1]),
            "test_images.npy": Self.npy(descr: "|u1", shape: [2, 2, 2, 4], data: pixels),
            "test_labels.npy": Self.npy(descr: "|u1", shape: [2], data: [1, 1]),
        ])
        let forced = try DatasetLoader.load(directory: dir.path, npyLayout: .nchw)
        XCTAssertEqual([forced.train.channels, forced.train.height, forced.train.width], [2, 2, 4])
        XCTAssertEqual(forced.train.images, pixels)
        let auto = try DatasetLoader.load(directory: dir.path)
        XCTAssertEqual([auto.train.channels, auto.train.height, auto.train.width], [4, 2, 2])
    }

    // MARK: - Files numpy wrote

    /// Versions 1.0, 2.0 and 3.0 as `np.lib.format.write_array` writes them, every integer
    /// label dtype in both byte orders through `np.save`, and NHWC/NCHW images against the
    /// CHW bytes numpy computes (`np.transpose`).
    func testFilesWrittenByNumPy() throws {
        try Python.require("numpy")
        let root = try TemporaryDirectory()
        let script = """
            import sys, os, numpy as np
            root = sys.argv[1]
            rng = np.random.default_rng(0)
            def write(name, arr, version=None):
                with open(name, 'wb') as f:
                    np.lib.format.write_array(f, arr, version=version)
            def split(d, train, train_labels, test, test_labels, version=None):
                os.makedirs(d)
                write(os.path.join(d, 'train_images.npy'), train, version)
                write(os.path.join(d, 'train_labels.npy'), train_labels, version)
                write(os.path.join(d, 'test_images.npy'), test, version)
                write(os.path.join(d, 'test_labels.npy'), test_labels, version)
            train = rng.integers(0, 256, (20, 5, 7), dtype=np.uint8)
            test = rng.integers(0, 256, (6, 5, 7), dtype=np.uint8)
            labels = np.arange(20) % 4
            test_labels = np.array([3, 0, 1, 2, 2, 1])
            for v in [(1, 0), (2, 0), (3, 0)]:
                split(f'{root}/v{v[0]}', train, labels.astype(np.uint8), test, test_labels.astype(np.uint8), v)
            for kind in 'iu':
                for size in [1, 2, 4, 8]:
                    for order in '<>':
                        dt = np.dtype(f'{order}{kind}{size}')
                        split(f'{root}/{dt.str.replace("|", "")}{order}', train, labels.astype(dt), test, test_labels.astype(dt))
            nchw = rng.integers(0, 256, (20, 3, 5, 7), dtype=np.uint8)
            nchw_test = rng.integers(0, 256, (6, 3, 5, 7), dtype=np.uint8)
            split(f'{root}/nchw', nchw, labels, nchw_test, test_labels)
            split(f'{root}/nhwc', nchw.transpose(0, 2, 3, 1), labels, nchw_test.transpose(0, 2, 3, 1), test_labels)
            split(f'{root}/nhw', train, labels, test, test_labels)
            for name, arr in [('train', train), ('test', test), ('train_chw', nchw), ('test_chw', nchw_test)]:
                arr.tofile(f'{root}/{name}.raw')
            """
        let result = try Python.run(["-c", script, root.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        func raw(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: root.file(name)))) }
        let labels = (0..<20).map { Int32($0 % 4) }
        let testLabels: [Int32] = [3, 0, 1, 2, 2, 1]

        func check(_ name: String, images: [UInt8], test: [UInt8], channels: Int) throws {
            let splits = try DatasetLoader.load(directory: root.file(name))
            XCTAssertEqual(splits.train.images, images, name)
            XCTAssertEqual(splits.test.images, test, name)
            XCTAssertEqual(splits.train.labels, labels, name)
            XCTAssertEqual(splits.test.labels, testLabels, name)
            XCTAssertEqual([splits.train.channels, splits.train.height, splits.train.width], [channels, 5, 7], name)
            XCTAssertEqual(splits.train.classCount, 4, name)
        }
        for version in 1...3 {
            try check("v\(version)", images: try raw("train.raw"), test: try raw("test.raw"), channels: 1)
            let file = try NPYFile(path: root.file("v\(version)/train_images.npy"))
            XCTAssertEqual(file.version, "\(version).0")
            XCTAssertEqual(file.dataOffset % 64, 0)
        }
        var dtypes = 0
        for kind in ["i", "u"] {
            for size in [1, 2, 4, 8] {
                for order in ["<", ">"] {
                    let name = size == 1 ? "\(kind)\(size)\(order)" : "\(order)\(kind)\(size)\(order)"
                    try check(name, images: try raw("train.raw"), test: try raw("test.raw"), channels: 1)
                    dtypes += 1
                }
            }
        }
        XCTAssertEqual(dtypes, 16)
        try check("nhw", images: try raw("train.raw"), test: try raw("test.raw"), channels: 1)
        try check("nchw", images: try raw("train_chw.raw"), test: try raw("test_chw.raw"), channels: 3)
        try check("nhwc", images: try raw("train_chw.raw"), test: try raw("test_chw.raw"), channels: 3)
    }
}
