import Datasets
import Distributed
import Foundation
import NN
import RunFormat
import TestSupport
import Training
import XCTest

/// Per-rank reading (issue 21): a run that maps raw IDX or CIFAR files and reads only its
/// shard trains the same model as one that reads the whole split, and every rank count
/// sees the same normalization and data digest.
final class ShardedLoadingTests: RunDirectoryTestCase {
    private var fixtures: [TemporaryDirectory] = []

    override func tearDown() {
        fixtures = []
        super.tearDown()
    }

    private func fixtureDirectory(_ label: String) throws -> String {
        let directory = try TemporaryDirectory(label)
        fixtures.append(directory)
        return directory.path
    }

    /// The first 600 Fashion-MNIST training and 200 test instances as raw IDX files, and
    /// (with `gzipped`) a second directory with the same files gzip-compressed.
    private func rawFashion(gzipped: Bool = false) throws -> (raw: String, gz: String?) {
        let splits = try Fixtures.fashion(limit: 600)
        let raw = try fixtureDirectory("rawfashion")
        let test = splits.test.prefix(200)
        try DatasetFiles.writeIDX(
            into: raw, rows: 28, cols: 28, train: (splits.train.images, splits.train.labels.map { UInt8($0) }),
            test: (test.images, test.labels.map { UInt8($0) }))
        guard gzipped else { return (raw, nil) }
        let gz = try fixtureDirectory("gzfashion")
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(atPath: raw + "/" + name, toPath: gz + "/" + name)
            try DatasetFiles.gzip(gz + "/" + name)
            try FileManager.default.removeItem(atPath: gz + "/" + name)
        }
        return (raw, gz)
    }

    private func cifar() throws -> String {
        let directory = try fixtureDirectory("cifar")
        try DatasetFiles.writeCIFAR10(into: directory, batchSizes: [50, 45, 60, 40, 55], testSize: 40)
        return directory
    }

    private func config(data: String, run: String) -> TrainingConfig {
        var config = TrainingConfig(runDirectory: run)
        config.dataDirectory = data
        config.model = .mlp
        config.epochs = 2
        config.limit = 230
        config.showProgress = false
        config.threads = 1
        config.seed = 3
        return config
    }

    private func modelBytes(_ run: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors"))
    }

    /// One rank: the mapped files and the whole-read loader (`Trainer(config:splits:)`) give
    /// the same shard, fingerprint, normalization and model, byte for byte.
    func testMappedFilesTrainTheSameModelAsTheWholeReadLoader() throws {
        for data in [try rawFashion().raw, try cifar()] {
            let mapped = try Trainer(config: config(data: data, run: try runDirectory()))
            XCTAssertTrue(try DatasetSources.open(directory: data).train is RecordFileSource, data)
            mapped.report = { _ in }
            let whole = try DatasetLoader.load(directory: data, limit: 230)
            let loaded = try Trainer(config: config(data: data, run: try runDirectory()), splits: whole)
            loaded.report = { _ in }
            XCTAssertEqual(mapped.fingerprint, loaded.fingerprint)
            XCTAssertEqual(mapped.fingerprint, DatasetFingerprint(splits: whole))
            XCTAssertEqual(mapped.normalization, Normalization(computedFrom: whole.train))
            XCTAssertEqual(mapped.data.train.images, whole.train.images)
            let (a, b) = (try mapped.run(), try loaded.run())
            XCTAssertEqual(try modelBytes((a.modelPath as NSString).deletingLastPathComponent), try modelBytes((b.modelPath as NSString).deletingLastPathComponent), data)
        }
    }

    /// Two ranks: raw files (each rank maps them and reads its shard) and gzip files (each
    /// rank reads them whole) give the same model; its normalization is the one-rank one.
    func testTwoRanksTrainTheSameModelFromRawAndGzipFiles() throws {
        let (raw, gz) = try rawFashion(gzipped: true)
        var runs: [String] = []
        for data in [raw, gz!] {
            let run = try runDirectory()
            let result = try Fixtures.mpirunIES(
                ranks: 2,
                ["train", "--data", data, "--run-dir", run, "--model", "mlp", "--epochs", "2", "--limit", "230",
                 "--threads", "1", "--no-progress", "--seed", "3"])
            XCTAssertFalse(result.timedOut, "ies train timed out: \(result.stderr)")
            XCTAssertEqual(result.status, 0, result.stderr)
            runs.append(run)
        }
        XCTAssertEqual(try modelBytes(runs[0]), try modelBytes(runs[1]))
        let (file, _) = try ModelFile.read(path: runs[0] + "/model.safetensors", compute: Compute(threads: 1))
        let whole = try DatasetLoader.load(directory: raw, limit: 230)
        XCTAssertEqual(file.normalization, Normalization(computedFrom: whole.train))
    }

    /// A NumPy set of 3x5x4 RGB images (an odd plane of 20 bytes: the histogram's tail) in
    /// `layout` ("nhwc" or "nchw"): 2,000 scrambled training instances (more than one run of `visitRun`, every third too), 8 test.
    private func numPy(_ layout: String) throws -> String {
        let directory = try fixtureDirectory("npy" + layout)
        let (c, h, w) = (3, 5, 4)
        for (name, n) in [("train", 2_000), ("test", 8)] {
            let images = (0..<(n * c * h * w)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761 &+ n) >> 11) }
            let shape = layout == "nhwc" ? [n, h, w, c] : [n, c, h, w]
            let labels = (0..<n).map { UInt8($0 % 7) }
            try Data(NPYTrainingTests.npy(descr: "|u1", shape: shape, data: images))
                .write(to: URL(fileURLWithPath: directory + "/\(name)_images.npy"))
            try Data(NPYTrainingTests.npy(descr: "|u1", shape: [n], data: labels))
                .write(to: URL(fileURLWithPath: directory + "/\(name)_labels.npy"))
        }
        return directory
    }

    /// Digest scheme 2 written out here, one instance after the other, as the reference the
    /// trainer's (four instances side by side) must equal: the wrapping sum over instances of
    /// SplitMix64's finalizer of FNV-1a over (id, label, the image's little-endian words, the
    /// remaining bytes).
    static func schemeTwoDigest(_ data: Dataset) -> UInt64 {
        func fnv(_ value: UInt64, _ word: UInt64) -> UInt64 { (value ^ word) &* 0x0000_0100_0000_01B3 }
        let size = data.sampleSize
        var sum: UInt64 = 0
        for slot in 0..<data.count {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            h = fnv(h, UInt64(UInt32(bitPattern: data.ids[slot])))
            h = fnv(h, UInt64(UInt32(bitPattern: data.labels[slot])))
            let image = data.images[(slot * size)..<((slot + 1) * size)]
            var i = image.startIndex
            while i + 8 <= image.endIndex {
                var word: UInt64 = 0
                for b in 0..<8 { word |= UInt64(image[i + b]) << UInt64(8 * b) }
                h = fnv(h, word)
                i += 8
            }
            while i < image.endIndex {
                h = fnv(h, UInt64(image[i]))
                i += 1
            }
            h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
            h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
            sum &+= h ^ (h >> 31)
        }
        return sum
    }

    /// The shard read in one pass (each run copied, then counted for the histograms and
    /// hashed for the digest while in cache) equals the three separate passes, bit for bit:
    /// the same image bytes, the same histogram integers, the same digest; for IDX, CIFAR and
    /// NumPy (NHWC reordered as read, and NCHW), whole and for a scattered shard.
    func testOnePassShardReadEqualsTheSeparatePasses() throws {
        let sets = [("idx", try rawFashion().raw), ("cifar", try cifar()), ("npy nhwc", try numPy("nhwc")), ("npy nchw", try numPy("nchw"))]
        for (name, data) in sets {
            let sources = try DatasetSources.open(directory: data)
            let source = sources.train
            XCTAssertTrue(source is RecordFileSource, name)
            let labels = try source.checkedLabels(try source.labelRecords(0..<source.count))
            let whole = try DatasetLoader.load(directory: data)
            for ids in [Array(0..<source.count), Array(stride(from: 1, to: source.count, by: 3))] {
                // The separate passes: copy, then histograms, then digest.
                let separate = try source.dataset(ids: ids, labels: ids.map { labels[$0] })
                let subset = DatasetSplits(
                    train: whole.train.subset(slots: ids), test: whole.test, format: whole.format, directory: data)
                XCTAssertEqual(separate.images, subset.train.images, name)
                // The one pass, as `ShardedData` makes it.
                var counter = Normalization.HistogramCounter(channels: source.channels, plane: source.height * source.width)
                var next = 0
                let fused = try source.dataset(ids: ids, labels: ids.map { labels[$0] }) { slots, images in
                    XCTAssertEqual(slots.lowerBound, next, "\(name): runs out of order")
                    XCTAssertEqual(images.count, slots.count * source.sampleSize, name)
                    next = slots.upperBound
                    counter.count(images)
                }
                XCTAssertEqual(next, ids.count, name)
                XCTAssertGreaterThan(ids.count, source.visitRun, "\(name): one run only")
                XCTAssertEqual(fused.images, separate.images, name)
                XCTAssertEqual(fused.ids, separate.ids, name)
                XCTAssertEqual(counter.histograms, Normalization.histograms(of: separate), name)
                // `ShardedData` over the same ids (an owner table giving rank 0 these ids).
                var owners = [Int32](repeating: 1, count: source.count)
                for id in ids { owners[id] = 0 }
                let shard = try ShardedData(sources: sources, communicator: .singleton, strategy: .contiguous, owners: owners)
                XCTAssertEqual(shard.train.images, separate.images, name)
                XCTAssertEqual(shard.normalization, Normalization(computedFrom: separate), name)
                XCTAssertEqual(String(shard.contentDigest, radix: 16), DatasetFingerprint(splits: subset).digest, name)
                XCTAssertEqual(shard.contentDigest, Self.schemeTwoDigest(separate), name)
            }
        }
    }

    /// 2 and 3 ranks: each rank reads at most the images of its shard and its test block
    /// plus label bytes (and the few instances of the spot check), and all see the one-rank normalization and digest, bit for bit.
    func testEachRankReadsOnlyItsShardAndAgreesOnNormalizationAndDigest() throws {
        let testbed = try BuiltProducts.require("ies-testbed")
        for data in [try cifar(), try rawFashion().raw] {
            let sources = try DatasetSources.open(directory: data)
            let one = try ShardedData(sources: sources, communicator: .singleton, strategy: .contiguous)
            let whole = try DatasetLoader.load(directory: data)
            XCTAssertEqual(one.normalization, Normalization(computedFrom: whole.train))
            XCTAssertEqual(String(one.contentDigest, radix: 16), DatasetFingerprint(splits: whole).digest)
            let fileBytes = whole.train.count * whole.train.sampleSize
            for ranks in [2, 3] {
                let result = try MPIRun.run(ranks: ranks, [testbed, "shard-read", "--data", data], timeout: 120)
                XCTAssertFalse(result.timedOut, "shard-read timed out: \(result.stderr)")
                XCTAssertEqual(result.status, 0, result.stderr)
                let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
                XCTAssertEqual(lines.count, ranks, result.stdout)
                var shards = 0
                for line in lines {
                    let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                    let (shard, block) = (report["shard"] as! Int, report["test_block"] as! Int)
                    let size = report["sample_size"] as! Int
                    // Generous bounds: every label, and the spot check's instances (`ShardedData.localSpotDigest`).
                    let labelBytes = whole.train.count * (report["label_records"] as! Int)
                        + (ShardedData.spotCheckCount + 1) * size
                    XCTAssertEqual(report["random_access"] as? Bool, true)
                    XCTAssertLessThanOrEqual(report["train_bytes_read"] as! Int, shard * size + labelBytes, "\(line)")
                    XCTAssertLessThan(report["train_bytes_read"] as! Int, fileBytes / ranks + labelBytes + size, "\(line)")
                    XCTAssertLessThanOrEqual(report["test_bytes_read"] as! Int, block * size + whole.test.count * 4, "\(line)")
                    XCTAssertEqual(report["mean_bits"] as? [UInt32], one.normalization.mean.map(\.bitPattern), "\(line)")
                    XCTAssertEqual(report["std_bits"] as? [UInt32], one.normalization.std.map(\.bitPattern), "\(line)")
                    XCTAssertEqual(report["digest"] as? String, String(one.contentDigest, radix: 16), "\(line)")
                    shards += shard
                }
                XCTAssertEqual(shards, whole.train.count)
            }
        }
    }
}
