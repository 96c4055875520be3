import Datasets
import Foundation
import RunFormat
import TestSupport
import Training
import XCTest

/// Many classes end to end: training records every class in metrics.jsonl, the terminal
/// lines and `ies inspect` stay short, and `ies report` draws the many-class figures.
///
/// IDX label files hold one unsigned byte per label, so a data set read from disk has at
/// most 256 classes: the 1,000-class run trains on an in-memory data set, and the
/// command-line run (train, inspect, inspect --instances, report) on 256 classes in IDX.
final class ManyClassesTrainingTests: RunDirectoryTestCase {
    /// `count` 28x28 images with label i % classes; pixels depend on the label, so classes differ.
    static func dataset(count: Int, classes: Int, offset: Int) -> Dataset {
        var images = [UInt8](repeating: 0, count: count * 784)
        for i in 0..<count {
            let label = i % classes
            for p in 0..<784 { images[i * 784 + p] = UInt8(truncatingIfNeeded: (p * (label + 1) + 13 * (i + offset)) % 251) }
        }
        return Dataset(
            images: images, labels: (0..<count).map { Int32($0 % classes) }, ids: (0..<count).map(Int32.init),
            channels: 1, height: 28, width: 28, classCount: classes)
    }

    /// The IDX files of `dataset` as `prefix`-images-idx3-ubyte and `prefix`-labels-idx1-ubyte.
    static func writeIDX(_ dataset: Dataset, directory: String, prefix: String) throws {
        func header(_ magic: UInt32, _ dims: [Int]) -> [UInt8] {
            ([magic] + dims.map(UInt32.init)).flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
        }
        try Data(header(0x0000_0803, [dataset.count, 28, 28]) + dataset.images)
            .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-images-idx3-ubyte"))
        try Data(header(0x0000_0801, [dataset.count]) + dataset.labels.map { UInt8($0) })
            .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-labels-idx1-ubyte"))
    }

    /// metrics.jsonl's records: one per epoch, every class counted, sizes summing to the data set.
    private func checkMetrics(_ run: String, classes: Int, instances: Int, epochs: Int) throws {
        let records = try MetricsFile(path: RunDirectory(run).metrics).records
        XCTAssertEqual(records.map(\.epoch), Array(1...epochs))
        for record in records {
            XCTAssertEqual(record.masteredPerClass.count, classes, "epoch \(record.epoch)")
            XCTAssertEqual(record.instancesPerClass.count, classes, "epoch \(record.epoch)")
            XCTAssertEqual(record.instancesPerClass.reduce(0, +), instances, "epoch \(record.epoch)")
            XCTAssertEqual(record.masteredPerClass.reduce(0, +), record.mastered, "epoch \(record.epoch)")
        }
    }

    /// `ies report` on `run`: the many-class figures, no heat map, a page of reasonable size.
    private func checkReport(_ run: String, classes: Int) throws {
        let page = (run as NSString).deletingLastPathComponent + "/report.html"
        let report = try Fixtures.runIES(["report", run, "--output", page], timeout: 120)
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertLessThan(html.utf8.count, 2_000_000)
        XCTAssertFalse(html.contains("data-plot=\"mastered-per-class-1\""), "a \(classes)-row heat map")
        XCTAssertTrue(html.contains("data-plot=\"class-share-histogram-1\""))
        XCTAssertTrue(html.contains("data-plot=\"class-share-percentiles-1\""))
        XCTAssertTrue(html.contains("data-table=\"class-extremes-1\" data-classes=\"\(classes)\""))
    }

    /// No line of `text` lists the classes (a thousand numbers would run far past 400 characters).
    private func checkShortLines(_ text: String, _ what: String) {
        for line in text.split(separator: "\n") {
            XCTAssertLessThan(line.count, 400, "\(what) printed a line of \(line.count) characters: \(line.prefix(200))...")
        }
    }

    func testThousandClassesTrainAndReport() throws {
        let classes = 1000, instances = 3000, epochs = 2
        let splits = DatasetSplits(
            train: Self.dataset(count: instances, classes: classes, offset: 0),
            test: Self.dataset(count: 1000, classes: classes, offset: instances), format: .idx, directory: "in-memory")
        let run = try runDirectory()
        var config = TrainingConfig(runDirectory: run)
        config.model = .mlp
        config.epochs = epochs
        config.showProgress = false
        config.threads = 1
        let trainer = try Trainer(config: config, splits: splits)
        var lines: [String] = []
        trainer.report = { lines.append($0) }
        let summary = try trainer.run()
        XCTAssertEqual(summary.epochs.count, epochs)
        checkShortLines(lines.joined(separator: "\n"), "training")
        XCTAssertTrue(lines.contains { $0.hasPrefix("epoch 2/2") }, lines.joined(separator: "\n"))
        try checkMetrics(run, classes: classes, instances: instances, epochs: epochs)

        let inspect = try Fixtures.runIES(["inspect", run], timeout: 120)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("epoch        2 of 2"), inspect.stdout)
        checkShortLines(inspect.stdout, "ies inspect")
        try checkReport(run, classes: classes)
    }

    func testTwoHundredFiftySixClassesThroughTheCommandLine() throws {
        let classes = 256, instances = 3000
        let data = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: data) }
        try Self.writeIDX(Self.dataset(count: instances, classes: classes, offset: 0), directory: data, prefix: "train")
        try Self.writeIDX(Self.dataset(count: 512, classes: classes, offset: instances), directory: data, prefix: "t10k")
        let run = try runDirectory()
        let train = try Fixtures.runIES(
            ["train", "--data", data, "--model", "mlp", "--epochs", "2", "--run-dir", run, "--threads", "1", "--no-progress"],
            timeout: 300)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertFalse(train.timedOut)
        XCTAssertTrue(train.stdout.contains("epoch 2/2"), train.stdout)
        checkShortLines(train.stdout, "ies train")
        try checkMetrics(run, classes: classes, instances: instances, epochs: 2)

        let inspect = try Fixtures.runIES(["inspect", run], timeout: 120)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        checkShortLines(inspect.stdout, "ies inspect")
        let csv = (run as NSString).deletingLastPathComponent + "/instances.csv"
        let listing = try Fixtures.runIES(["inspect", run, "--instances", csv], timeout: 120)
        XCTAssertEqual(listing.status, 0, listing.stderr)
        checkShortLines(listing.stdout, "ies inspect --instances")
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, instances + 1, "a header and a row per instance")
        try checkReport(run, classes: classes)
    }
}
