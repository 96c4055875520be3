import Datasets
import Foundation
import TestSupport
import XCTest

/// `DatasetSources.open`: the same instances as `DatasetLoader.load`, read by offset from
/// raw IDX and CIFAR files (only the bytes asked for), with the loader's errors.
final class SplitSourceTests: XCTestCase {
    /// A raw IDX set of `count` 4x5 images (labels i % 3) and 7 test images.
    private func writeIDX(_ directory: TemporaryDirectory, count: Int = 50) throws {
        let pixels = (0..<(count * 20)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 / 7) }
        let testPixels = (0..<(7 * 20)).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        try DatasetFiles.writeIDX(
            into: directory.path, rows: 4, cols: 5, train: (pixels, (0..<count).map { UInt8($0 % 3) }),
            test: (testPixels, (0..<7).map { UInt8($0 % 3) }))
    }

    /// Every label and image of `source` equals the dataset's.
    private func assertSame(_ source: SplitSource, _ dataset: Dataset, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(source.count, dataset.count, file: file, line: line)
        XCTAssertEqual(source.classCount, dataset.classCount, file: file, line: line)
        XCTAssertEqual([source.channels, source.height, source.width], [dataset.channels, dataset.height, dataset.width])
        let labels = try source.checkedLabels(try source.labelRecords(0..<source.count))
        XCTAssertEqual(labels, dataset.labels, file: file, line: line)
        let read = try source.dataset(ids: Array(0..<source.count), labels: labels)
        XCTAssertEqual(read.images, dataset.images, file: file, line: line)
        XCTAssertEqual(read.ids, dataset.ids, file: file, line: line)
    }

    func testRawIDXIsMappedAndReadsWhatTheLoaderReads() throws {
        let directory = try TemporaryDirectory("rawidx")
        try writeIDX(directory)
        for limit in [nil, 13] {
            let sources = try DatasetSources.open(directory: directory.path, limit: limit, testLimit: 5)
            let splits = try DatasetLoader.load(directory: directory.path, limit: limit, testLimit: 5)
            XCTAssertTrue(sources.train is RecordFileSource)
            XCTAssertEqual(sources.format, .idx)
            try assertSame(sources.train, splits.train)
            try assertSame(sources.test, splits.test)
        }
    }

    /// `.npy` arrays are mapped too: NCHW and NHWC (reordered per image as read) give what
    /// the whole-file loader gives, also under a limit and for a subset of ids.
    func testNumPyIsMappedAndReadsWhatTheLoaderReads() throws {
        var generator = SystemRandomNumberGenerator()
        for layout in ["nhwc", "nchw"] {
            let directory = try TemporaryDirectory("npy" + layout)
            let (n, c, h, w) = (30, 3, 5, 4)
            func images(_ count: Int) -> [UInt8] { (0..<(count * c * h * w)).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            let shape = { (count: Int) in layout == "nhwc" ? [count, h, w, c] : [count, c, h, w] }
            try directory.write("train_images.npy", NPYTests.npy(descr: "|u1", shape: shape(n), data: images(n)))
            try directory.write("train_labels.npy", NPYTests.npy(
                descr: "<i4", shape: [n], data: NPYTests.encode((0..<n).map { $0 % 7 }, descr: "<i4")))
            try directory.write("test_images.npy", NPYTests.npy(descr: "|u1", shape: shape(8), data: images(8)))
            try directory.write("test_labels.npy", NPYTests.npy(descr: "|u1", shape: [8], data: (0..<8).map { UInt8($0 % 7) }))
            for limit in [nil, 11] {
                let sources = try DatasetSources.open(directory: directory.path, limit: limit)
                let splits = try DatasetLoader.load(directory: directory.path, limit: limit)
                XCTAssertTrue(sources.train is RecordFileSource, layout)
                XCTAssertEqual(sources.format, .numpy)
                try assertSame(sources.train, splits.train)
                try assertSame(sources.test, splits.test)
            }
            let source = try DatasetSources.open(directory: directory.path).train
            let whole = try DatasetLoader.load(directory: directory.path).train
            let ids = [2, 3, 17, 29]
            let labels = try source.checkedLabels(try source.labelRecords(0..<source.count))
            XCTAssertEqual(try source.dataset(ids: ids, labels: ids.map { labels[$0] }).images, whole.subset(slots: ids).images, layout)
            XCTAssertEqual(source.bytesRead, ids.count * c * h * w, "\(layout): read more than the four images")
        }
    }

    func testGzipIDXIsReadWholeWithTheSameContents() throws {
        let directory = try TemporaryDirectory("gzidx")
        try writeIDX(directory)
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try DatasetFiles.gzip(directory.file(name))
            try directory.remove(name)
        }
        let sources = try DatasetSources.open(directory: directory.path, limit: 20)
        XCTAssertTrue(sources.train is InMemorySource)
        try assertSame(sources.train, try DatasetLoader.load(directory: directory.path, limit: 20).train)
    }

    /// Only the records asked for are read: the label bytes of a block and the images of the ids.
    func testCIFARReadsOnlyTheRecordsAskedForAcrossFiles() throws {
        let directory = try TemporaryDirectory("cifar")
        try DatasetFiles.writeCIFAR10(into: directory.path, batchSizes: [7, 3, 11, 5, 9], testSize: 6)
        let sources = try DatasetSources.open(directory: directory.path)
        let splits = try DatasetLoader.load(directory: directory.path)
        XCTAssertEqual(sources.train.count, 35)
        try assertSame(sources.train, splits.train)
        try assertSame(sources.test, splits.test)

        let fresh = try DatasetSources.open(directory: directory.path).train
        let ids = [0, 6, 7, 9, 10, 20, 21, 34]  // across every file boundary
        _ = try fresh.labelRecords(8..<19)
        let shard = try fresh.dataset(ids: ids, labels: ids.map { splits.train.labels[$0] })
        XCTAssertEqual(shard.images, splits.train.subset(slots: ids).images)
        XCTAssertEqual(fresh.bytesRead, 11 * 1 + ids.count * 3072)
    }

    func testCIFARLabelErrorsAreTheLoadersOnTheWholeSplit() throws {
        let directory = try TemporaryDirectory("cifarbad")
        // Position 12 is record 2 of data_batch_3.bin.
        try DatasetFiles.writeCIFAR10(into: directory.path, batchSizes: [7, 3, 11, 5, 9], testSize: 6) { $0 == 12 ? 10 : 1 }
        let expected = error(of: { _ = try DatasetLoader.load(directory: directory.path) })
        let source = try DatasetSources.open(directory: directory.path).train
        let found = error(of: { _ = try source.checkedLabels(try source.labelRecords(0..<source.count)) })
        XCTAssertEqual(found, expected)
        XCTAssertEqual(
            found, .labelOutOfRange(file: directory.file("data_batch_3.bin"), index: 2, value: 10, validRange: 0..<10))
    }

    private func error(of body: () throws -> Void) -> DatasetError? {
        do {
            try body()
            return nil
        } catch {
            return error as? DatasetError
        }
    }

    func testTruncatedCIFARFileGivesTheLoadersError() throws {
        let directory = try TemporaryDirectory("cifartrunc")
        try DatasetFiles.writeCIFAR10(into: directory.path, batchSizes: [2, 2, 2, 2, 2], testSize: 2)
        let path = directory.file("data_batch_4.bin")
        try Data(try Data(contentsOf: URL(fileURLWithPath: path)).dropLast(5)).write(to: URL(fileURLWithPath: path))
        let expected = error(of: { _ = try DatasetLoader.load(directory: directory.path) })
        XCTAssertNotNil(expected)
        XCTAssertEqual(error(of: { _ = try DatasetSources.open(directory: directory.path) }), expected)
    }

    /// Histograms of disjoint shards, summed, give the whole split's normalization bit for bit.
    func testNormalizationFromSummedShardHistogramsIsBitIdentical() throws {
        let directory = try TemporaryDirectory("cifarnorm")
        try DatasetFiles.writeCIFAR10(into: directory.path, batchSizes: [7, 3, 11, 5, 9], testSize: 2)
        let whole = try DatasetLoader.load(directory: directory.path).train
        let reference = Normalization(computedFrom: whole)
        for ranks in 1...3 {
            var sum = [Int64](repeating: 0, count: 3 * 256)
            for rank in 0..<ranks {
                let shard = whole.subset(slots: Array(Sharding.block(count: whole.count, rank: rank, ranks: ranks)))
                for (i, n) in Normalization.histograms(of: shard).enumerated() { sum[i] += n }
            }
            let combined = Normalization(histograms: sum, channels: 3)
            XCTAssertEqual(combined.mean.map(\.bitPattern), reference.mean.map(\.bitPattern), "\(ranks) ranks")
            XCTAssertEqual(combined.std.map(\.bitPattern), reference.std.map(\.bitPattern), "\(ranks) ranks")
        }
    }
}
