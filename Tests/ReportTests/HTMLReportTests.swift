import Foundation
import Report
import TestSupport
import XCTest

/// The report of the fixture runs: every chart present with the right series and points,
/// and the summary's figures.
final class HTMLReportTests: XCTestCase {
    private func report(_ directories: [String]) throws -> HTMLInspector {
        let report = try HTMLReport.load(directories: directories)
        return HTMLInspector(html: report.html())
    }

    func testTwoRankFixtureHasEveryPlotWithItsSeriesAndPoints() throws {
        let run = ReportTestSupport.fixture("mlp-2ranks")
        let page = try report([run])
        let records = try ReportTestSupport.metricsObjects(run)
        XCTAssertEqual(records.count, 8)
        for id in ["test-accuracy", "test-loss", "trained", "mastered", "returned", "backprop-saved", "lr"] {
            let series = page.series(id)
            XCTAssertEqual(series.map(\.label), ["mlp-2ranks"], id)
            XCTAssertEqual(series.map(\.points), [8], id)
            XCTAssertEqual(page.attribute("data-series", ofPlot: id), "1", id)
        }
        // Time: every component this run spent more than a sliver on (no "other" time is
        // left over once evaluation and checkpointing are counted).
        let time = page.series("time-per-epoch-1")
        XCTAssertEqual(time.map(\.label), ["training", "probing", "evaluation", "allreduce", "rebalancing", "checkpointing"])
        XCTAssertTrue(time.allSatisfy { $0.points == 8 })
        // Rebalancing: before and after for each of the two ranks, and the instances moved.
        XCTAssertEqual(
            page.series("unmastered-per-rank-1").map(\.label),
            ["rank 0 before", "rank 0 after", "rank 1 before", "rank 1 after"])
        XCTAssertTrue(page.series("unmastered-per-rank-1").allSatisfy { $0.points == 8 })
        XCTAssertEqual(page.series("instances-moved-1").map(\.points), [8])
        // Per class: 10 classes x 8 epochs, as shares (the run records its class sizes).
        XCTAssertEqual(page.attribute("data-rows", ofPlot: "mastered-per-class-1"), "10")
        XCTAssertEqual(page.attribute("data-columns", ofPlot: "mastered-per-class-1"), "8")
        let last = try XCTUnwrap(records.last)
        let mastered = try XCTUnwrap(last["mastered_per_class"] as? [Int])
        let sizes = try XCTUnwrap(last["instances_per_class"] as? [Int])
        let cell = "data-row=\"1\" data-column=\"7\" data-value=\"\(Double(mastered[1]) / Double(sizes[1]))\""
        XCTAssertTrue(page.html.contains(cell), "heat map lacks \(cell)")
    }

    func testSingleRankRunSaysSoInsteadOfARebalancingPlot() throws {
        let page = try report([ReportTestSupport.fixture("mlp-1rank")])
        XCTAssertNil(page.plot("unmastered-per-rank-1"))
        XCTAssertNil(page.plot("instances-moved-1"))
        XCTAssertTrue(page.html.contains("mlp-1rank: single rank, nothing to rebalance."))
        XCTAssertEqual(page.series("test-accuracy").map(\.points), [8])
    }

    func testTwoRunsOverlayInEveryPerRunChart() throws {
        let page = try report([ReportTestSupport.fixture("mlp-1rank"), ReportTestSupport.fixture("mlp-2ranks")])
        for id in ["test-accuracy", "test-loss", "trained", "mastered", "returned", "backprop-saved", "lr"] {
            XCTAssertEqual(page.series(id).map(\.label), ["mlp-1rank", "mlp-2ranks"], id)
            XCTAssertEqual(page.series(id).map(\.points), [8, 8], id)
        }
        // Both time charts show the same components, so that they line up side by side.
        XCTAssertEqual(page.series("time-per-epoch-1").map(\.label), page.series("time-per-epoch-2").map(\.label))
        XCTAssertEqual(page.series("time-per-epoch-1").map(\.label).first, "training")
        XCTAssertNotNil(page.plot("unmastered-per-rank-2"))
        XCTAssertNil(page.plot("unmastered-per-rank-1"))
        XCTAssertNotNil(page.plot("mastered-per-class-1"))
        XCTAssertNotNil(page.plot("mastered-per-class-2"))
    }

    func testSummaryOfTheFixtureMatchesItsMetricsAndMeta() throws {
        let run = ReportTestSupport.fixture("mlp-1rank")
        let page = try report([run])
        let records = try ReportTestSupport.metricsObjects(run)
        let accuracies = records.map { $0["test_accuracy"] as! Double }
        // (JSONSerialization and JSONDecoder may round the last digit differently.)
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "mlp-1rank", field: "best-accuracy")),
                       try XCTUnwrap(accuracies.max()), accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "mlp-1rank", field: "final-accuracy")),
                       try XCTUnwrap(accuracies.last), accuracy: 1e-15)
        XCTAssertEqual(
            try XCTUnwrap(page.summaryValue(run: "mlp-1rank", field: "backprop-saved")),
            try XCTUnwrap(records.last!["backprop_saved"] as? Double), accuracy: 1e-15)
        XCTAssertEqual(page.summaryValue(run: "mlp-1rank", field: "ranks"), 1)
        XCTAssertEqual(page.summaryText(run: "mlp-1rank", field: "model"), "mlp")
        XCTAssertEqual(page.summaryText(run: "mlp-1rank", field: "epochs")?.trimmingCharacters(in: .whitespaces), "8")
        XCTAssertTrue(page.summaryText(run: "mlp-1rank", field: "ies")?.contains("threshold 0.02") ?? false)
        XCTAssertTrue(page.summaryText(run: "mlp-1rank", field: "data")?.contains("fashion-mnist") ?? false)
        // One run: nothing to compare against.
        XCTAssertNil(page.summaryValue(run: "mlp-1rank", field: "speedup"))
    }

    /// Two synthetic runs small enough to check by hand: the baseline takes 2 + 2 s and
    /// reaches 80% then 85%; the other takes 1 + 1 s and reaches 82% then 81%.
    func testSpeedupAndAccuracyDifferenceAgainstTheFirstRun() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func write(_ name: String, _ lines: [String]) throws -> String {
            let run = directory + "/" + name
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try (lines.map(ReportTestSupport.record).joined(separator: "\n") + "\n")
                .write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
            return run
        }
        let baseline = try write("baseline", [
            #"{"epoch":1,"seconds":2.0,"test_accuracy":0.80,"backprop_saved":0}"#,
            #"{"epoch":2,"seconds":2.0,"test_accuracy":0.85,"backprop_saved":0}"#,
        ])
        let fast = try write("fast", [
            #"{"epoch":1,"seconds":1.0,"test_accuracy":0.82,"backprop_saved":0.1}"#,
            #"{"epoch":2,"seconds":1.0,"test_accuracy":0.81,"backprop_saved":0.2}"#,
        ])
        let page = try report([baseline, fast])
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "baseline", field: "wall-time")), 4.0, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "fast", field: "wall-time")), 2.0, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "fast", field: "speedup")), 2.0, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "baseline", field: "speedup")), 1.0, accuracy: 1e-12)
        // Best: 82% vs 85% = -3 points; final: 81% vs 85% = -4 points.
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "fast", field: "delta-best-accuracy")), -3.0, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(page.summaryValue(run: "fast", field: "delta-final-accuracy")), -4.0, accuracy: 1e-9)
        XCTAssertEqual(page.summaryText(run: "fast", field: "speedup"), "2.00×")
        XCTAssertEqual(page.summaryText(run: "fast", field: "delta-best-accuracy"), "-3.00 pp")
        XCTAssertEqual(page.summaryText(run: "fast", field: "delta-final-accuracy"), "-4.00 pp")
        XCTAssertEqual(page.summaryText(run: "baseline", field: "delta-best-accuracy"), "baseline")
        // Without meta.json the setup columns are unknown, not invented.
        XCTAssertEqual(page.summaryText(run: "fast", field: "model"), "—")
        XCTAssertEqual(page.summaryValue(run: "fast", field: "best-accuracy"), 0.82)
    }

    /// Past 8 ranks one line per rank would be unreadable: the largest and smallest rank.
    func testManyRanksShowTheLargestAndSmallestRank() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = (0..<12).map { 100 + $0 * 10 }, after = [Int](repeating: 155, count: 12)
        let line = "{\"epoch\":1,\"world_size\":12,\"unmastered_per_rank_before\":\(before),"
            + "\"unmastered_per_rank_after\":\(after),\"instances_moved\":180}"
        try (ReportTestSupport.record(line) + "\n").write(toFile: directory + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let page = try report([directory])
        XCTAssertEqual(
            page.series("unmastered-per-rank-1").map(\.label),
            ["largest rank before", "smallest rank before", "largest rank after", "smallest rank after"])
        XCTAssertTrue(page.plot("unmastered-per-rank-1")!.contains("epoch 1: 210</title>"))
    }

    func testTheReportIsSelfContained() throws {
        let html = try report([ReportTestSupport.fixture("mlp-1rank"), ReportTestSupport.fixture("mlp-2ranks")]).html
        let withoutNamespace = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        for needle in ["http://", "https://", "<script", "<link", "@import", "url(", "<img"] {
            XCTAssertFalse(withoutNamespace.contains(needle), "the report refers outside itself: \(needle)")
        }
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<style>"))
    }
}
