import Foundation
import RunFormat
import TestSupport
import XCTest

final class MetricsTests: XCTestCase {
    private func record(epoch: Int) -> EpochMetrics {
        var metrics = EpochMetrics(
            epoch: epoch, lr: 0.1, trained: 100, probed: 3, mastered: 3, returned: 1, backpropSaved: 0.25,
            trainLoss: 0.5, trainAccuracy: 0.8, testLoss: 0.6, testAccuracy: 0.75, seconds: 2, trainSeconds: 1.5,
            probeSeconds: 0.1, samplesPerSecond: 66)
        metrics.worldSize = 2
        metrics.globalBatch = 64
        metrics.trainedPerRank = [50, 50]
        metrics.masteredPerClass = [1, 2]
        return metrics
    }

    /// The README's list of metrics.jsonl fields is the type's list, no more, no less.
    func testReadmeListsExactlyTheFieldsOfEpochMetrics() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "- `metrics.jsonl`: one JSON object per epoch"), "README lost its field list")
        let end = try XCTUnwrap(text.range(of: "\n- `", range: start.upperBound..<text.endIndex))
        let bullet = String(text[start.upperBound..<end.lowerBound])
        let named = Set(bullet.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
            .filter { $0.allSatisfy { $0.isLowercase || $0 == "_" } } )
            .subtracting(["metrics.jsonl"])
        let fields = Set(EpochMetrics.fieldNames)
        XCTAssertEqual(named.subtracting(fields), [], "README names fields EpochMetrics does not have")
        XCTAssertEqual(fields.subtracting(named), [], "EpochMetrics fields missing from README's list")
    }

    func testRecordsRoundTripAndOldRunsLoad() throws {
        let directory = try TemporaryDirectory("metrics")
        let path = directory.path + "/" + RunDirectory.metricsFile
        let log = try MetricsLog(path: path)
        try log.append(record(epoch: 1))
        try log.append(record(epoch: 2))
        XCTAssertEqual(try MetricsFile(path: path).records, [record(epoch: 1), record(epoch: 2)])

        // A line from before the per-rank and per-class fields: loads with their defaults.
        let old = #"{"epoch":1,"lr":0.1,"trained":10,"probed":0,"mastered":0,"returned":0,"backprop_saved":0,"train_loss":1,"train_accuracy":0.5,"test_loss":1,"test_accuracy":0.5,"seconds":1,"train_seconds":1,"probe_seconds":0,"samples_per_second":10}"#
        let parsed = try MetricsFile(path: "old", data: Data((old + "\n").utf8)).records
        XCTAssertEqual(parsed.count, 1)
        XCTAssertEqual(parsed[0].worldSize, 1)
        XCTAssertEqual(parsed[0].masteredPerClass, [])
        XCTAssertTrue(parsed[0].parameterDigestAgree)
    }

    /// A cut last line (a run writing it) is dropped; a bad line elsewhere names file and line.
    func testPartialLastLineIsDroppedAndBadLinesAreNamed() throws {
        let encoder = JSONEncoder()
        let good = String(decoding: try encoder.encode(record(epoch: 1)), as: UTF8.self)
        let partial = try MetricsFile(path: "m", data: Data((good + "\n" + good.prefix(20)).utf8))
        XCTAssertTrue(partial.partialLine)
        XCTAssertEqual(partial.records.count, 1)
        XCTAssertThrowsError(try MetricsFile(path: "R/metrics.jsonl", data: Data(("{\"epoch\": 1}\n" + good + "\n").utf8))) {
            let text = "\($0)"
            XCTAssertTrue(text.hasPrefix("R/metrics.jsonl:1: not a metrics record: lr is missing"), text)
            XCTAssertFalse(text.contains("DecodingError"), text)
        }
    }

    /// A resumed run keeps the lines up to its checkpoint's epoch and restores that epoch's
    /// record when it never reached the file.
    func testResumedLogKeepsEarlierEpochsAndRestoresTheCheckpointsRecord() throws {
        let directory = try TemporaryDirectory("metrics-resume")
        let path = directory.path + "/" + RunDirectory.metricsFile
        let log = try MetricsLog(path: path)
        for epoch in [1, 2, 4] { try log.append(record(epoch: epoch)) }
        _ = try MetricsLog(path: path, keepingEpochsThrough: 3, restoring: record(epoch: 3))
        XCTAssertEqual(try MetricsFile(path: path).records.map(\.epoch), [1, 2, 3])
    }
}
