import Foundation
import Report
import RunFormat
import TestSupport
import XCTest

/// Reading run directories: runs in progress, old runs, broken files, clear errors.
final class RunLoadingTests: XCTestCase {
    /// The first five epochs of the fixture and half of the sixth line, as a reader racing
    /// the trainer sees them: reported up to epoch 5, with a note, and "in progress" since
    /// the checkpoint's configuration asks for 8 epochs.
    func testRunInProgressIsReportedUpToItsLastCompleteLine() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try ReportTestSupport.copyFixture("mlp-2ranks", to: directory)
        let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let cut = lines[0..<5].joined(separator: "\n") + "\n" + lines[5].prefix(lines[5].count / 2)
        try cut.write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)

        let loaded = try TrainingRun.load(directory: run)
        XCTAssertEqual(loaded.records.map(\.epoch), [1, 2, 3, 4, 5])
        XCTAssertTrue(loaded.metrics.partialLine)
        XCTAssertTrue(loaded.warnings.contains { $0.contains("metrics.jsonl") && $0.contains("up to epoch 5") }, "\(loaded.warnings)")

        let page = HTMLInspector(html: HTMLReport(runs: [loaded]).html())
        for id in ["test-accuracy", "test-loss", "trained", "mastered", "backprop-saved", "lr", "unmastered-per-rank-1"] {
            XCTAssertTrue(page.series(id).allSatisfy { $0.points == 5 }, "\(id): \(page.series(id))")
        }
        XCTAssertEqual(page.attribute("data-columns", ofPlot: "mastered-per-class-1"), "5")
        XCTAssertEqual(page.summaryText(run: "mlp-2ranks", field: "epochs"), "5 of 8 in progress")
        XCTAssertTrue(page.html.contains("the last line is incomplete"))
    }

    /// The same without any checkpoint: the run's length is unknown, so no "in progress".
    func testTruncatedRunWithoutCheckpointsStillLoads() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = try String(contentsOfFile: ReportTestSupport.fixture("mlp-1rank") + "/metrics.jsonl", encoding: .utf8)
        try String(text.dropLast(40)).write(toFile: directory + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let run = try TrainingRun.load(directory: directory)
        XCTAssertEqual(run.records.count, 7)
        XCTAssertNil(run.metadata)
        XCTAssertFalse(RunSummary(run: run).inProgress)
    }

    func testNewestCheckpointMetaIsUsed() throws {
        let run = try TrainingRun.load(directory: ReportTestSupport.fixture("mlp-2ranks"))
        XCTAssertEqual(run.metadata?.epoch, 8)
        XCTAssertTrue(run.metadataPath?.hasSuffix("checkpoints/epoch-0008/meta.json") ?? false, "\(run.metadataPath ?? "nil")")
        XCTAssertEqual(run.metadata?.config["model"]?.string, "mlp")
        XCTAssertEqual(run.metadata?.config["epochs"]?.int, 8)
        XCTAssertEqual(run.metadata?.config["batch_size"]?.int, 64)
        XCTAssertEqual(run.metadata?.worldSize, 2)
    }

    func testMissingMetricsIsAnErrorNamingTheDirectory() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        XCTAssertThrowsError(try TrainingRun.load(directory: directory)) { error in
            XCTAssertEqual(error as? RunFormatError, .missingMetrics(path: directory))
            XCTAssertTrue("\(error)".contains(directory) && "\(error)".contains("metrics.jsonl"), "\(error)")
        }
        XCTAssertThrowsError(try TrainingRun.load(directory: directory + "/nonexistent")) { error in
            XCTAssertTrue("\(error)".contains(directory + "/nonexistent"), "\(error)")
        }
    }

    func testMalformedLineInTheMiddleNamesFileAndLine() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/metrics.jsonl"
        try (ReportTestSupport.record("{\"epoch\":1,\"test_accuracy\":0.5}") + "\nnot json\n" + ReportTestSupport.record("{\"epoch\":3}") + "\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingRun.load(directory: directory)) { error in
            guard case .malformedMetrics(let file, let line, _)? = error as? RunFormatError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
            XCTAssertEqual(line, 2)
            XCTAssertTrue("\(error)".hasPrefix("\(path):2:"), "\(error)")
        }
    }

    func testEmptyMetricsIsAnError() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/metrics.jsonl", contents: Data())
        XCTAssertThrowsError(try TrainingRun.load(directory: directory)) { error in
            XCTAssertEqual(error as? ReportError, .noEpochs(path: directory + "/metrics.jsonl"))
        }
    }

    /// A run written before evaluate_seconds, checkpoint_seconds and the per-class fields
    /// existed: those charts degrade (no evaluation layer, a note instead of the heat map).
    func testOldRunWithoutTheNewFields() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let objects = try ReportTestSupport.metricsObjects(ReportTestSupport.fixture("mlp-1rank"))
        let old = try objects.map { object -> String in
            var object = object
            for key in ["evaluate_seconds", "checkpoint_seconds", "mastered_per_class", "instances_per_class"] {
                object.removeValue(forKey: key)
            }
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        try (old.joined(separator: "\n") + "\n").write(toFile: directory + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let page = HTMLInspector(html: try HTMLReport.load(directories: [directory]).html())
        XCTAssertEqual(page.series("time-per-epoch-1").map(\.label), ["training", "probing", "other"])
        XCTAssertNil(page.plot("mastered-per-class-1"))
        XCTAssertTrue(page.html.contains("no mastered_per_class in metrics.jsonl"))
        XCTAssertEqual(page.series("test-accuracy").map(\.points), [8])
    }

    /// Without class sizes the heat map shows counts.
    func testClassCountsWithoutClassSizes() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try (ReportTestSupport.record("{\"epoch\":1,\"mastered_per_class\":[3,0,7]}") + "\n"
            + ReportTestSupport.record("{\"epoch\":2,\"mastered_per_class\":[4,1,9]}") + "\n")
            .write(toFile: directory + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let page = HTMLInspector(html: try HTMLReport.load(directories: [directory]).html())
        XCTAssertEqual(page.attribute("data-rows", ofPlot: "mastered-per-class-1"), "3")
        XCTAssertTrue(page.html.contains("data-row=\"2\" data-column=\"1\" data-value=\"9.0\""))
        XCTAssertTrue(page.html.contains("Mastered instances per class (counts"))
    }

    func testLabelsAreMadeDistinct() {
        XCTAssertEqual(RunLabels.labels(for: ["runs/a", "runs/b"]), ["a", "b"])
        XCTAssertEqual(RunLabels.labels(for: ["x/run", "y/run/"]), ["x/run", "y/run"])
        XCTAssertEqual(RunLabels.labels(for: ["r", "r"]), ["r", "r (2)"])
    }
}
