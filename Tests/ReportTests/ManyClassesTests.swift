import Foundation
import Report
import TestSupport
import XCTest

/// The per-class view of a run with 1,000 classes: no heat map (its rows would be
/// thinner than a pixel) but the last epoch's distribution over share buckets, the
/// median and 10th/90th percentile over epochs and the best/worst classes, each with the
/// values computed here from the same counts; a run with few classes keeps its heat map.
final class ManyClassesTests: XCTestCase {
    static let classes = 1000, epochs = 4

    /// Class k has 3 + k % 7 instances; after epoch e, (31 k + 17 e) mod (size + 1) of them
    /// are mastered: every share from 0 to 1 occurs, in a different mix at each epoch.
    static func size(_ k: Int) -> Int { 3 + k % 7 }
    static func mastered(_ k: Int, epoch: Int) -> Int { (31 * k + 17 * epoch) % (size(k) + 1) }
    static func share(_ k: Int, epoch: Int) -> Double { Double(mastered(k, epoch: epoch)) / Double(size(k)) }

    /// A run directory whose metrics.jsonl holds `epochs` records of `classes` classes
    /// (without `instances_per_class` when `sizes` is false, like older runs).
    static func writeRun(in directory: String, name: String, classes: Int, epochs: Int, sizes: Bool = true) throws -> String {
        let run = directory + "/" + name
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        var lines = ""
        for epoch in 1...epochs {
            let mastered = (0..<classes).map { String(Self.mastered($0, epoch: epoch)) }.joined(separator: ",")
            let total = (0..<classes).map { String(Self.size($0)) }.joined(separator: ",")
            lines += try ReportTestSupport.record(
                "{\"epoch\":\(epoch),\"mastered_per_class\":[\(mastered)]"
                    + (sizes ? ",\"instances_per_class\":[\(total)]}" : "}")) + "\n"
        }
        try lines.write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        return run
    }

    /// numpy's default percentile (linear between closest ranks).
    static func quantile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let position = p * Double(sorted.count - 1)
        let i = Int(position), f = position - Double(i)
        return i + 1 < sorted.count ? sorted[i] + (sorted[i + 1] - sorted[i]) * f : sorted[i]
    }

    func testThousandClassesGetDistributionPercentilesAndExtremesInsteadOfAHeatMap() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try Self.writeRun(in: directory, name: "thousand", classes: Self.classes, epochs: Self.epochs)
        let html = try HTMLReport.load(directories: [run]).html()
        let page = HTMLInspector(html: html)
        let last = Self.epochs

        // No heat map, and the page stays small.
        XCTAssertNil(page.plot("mastered-per-class-1"))
        XCTAssertFalse(html.contains("data-rows=\"1000\""))
        XCTAssertLessThan(html.utf8.count, 2_000_000, "the page is \(html.utf8.count) bytes")

        // (a) Classes per tenth of a share after the last epoch (a full class in the last bucket).
        var expected = [Double](repeating: 0, count: 10)
        for k in 0..<Self.classes {
            expected[min(9, 10 * Self.mastered(k, epoch: last) / Self.size(k))] += 1
        }
        let histogram = page.seriesValues("class-share-histogram-1")
        XCTAssertEqual(histogram.map(\.label), ["classes"])
        XCTAssertEqual(histogram.first?.values, expected)
        XCTAssertEqual(expected.reduce(0, +), Double(Self.classes))
        XCTAssertTrue(page.plot("class-share-histogram-1")?.contains(">90–100<") ?? false, "bucket labels")

        // (b) Median and 10th/90th percentile of the share (in %) at every epoch.
        let lines = page.seriesValues("class-share-percentiles-1")
        XCTAssertEqual(lines.map(\.label), ["90th percentile", "median", "10th percentile"])
        for (line, p) in zip(lines, [0.9, 0.5, 0.1]) {
            let want = (1...Self.epochs).map { epoch in
                100 * Self.quantile((0..<Self.classes).map { Self.share($0, epoch: epoch) }, p)
            }
            XCTAssertEqual(line.values.count, Self.epochs, line.label)
            for (got, value) in zip(line.values, want) { XCTAssertEqual(got, value, accuracy: 1e-9, line.label) }
        }

        // (c) The 10 best and 10 worst classes after the last epoch; ties to the lower index.
        let ranked = (0..<Self.classes).map { (k: $0, share: Self.share($0, epoch: last)) }
        let best = ranked.sorted { $0.share != $1.share ? $0.share > $1.share : $0.k < $1.k }.prefix(10)
        let worst = ranked.sorted { $0.share != $1.share ? $0.share < $1.share : $0.k < $1.k }.prefix(10)
        let table = "class-extremes-1"
        XCTAssertEqual(page.tableValues(table, field: "best-class"), best.map { Double($0.k) })
        XCTAssertEqual(page.tableValues(table, field: "best-share"), best.map(\.share))
        XCTAssertEqual(page.tableValues(table, field: "best-mastered"), best.map { Double(Self.mastered($0.k, epoch: last)) })
        XCTAssertEqual(page.tableValues(table, field: "worst-class"), worst.map { Double($0.k) })
        XCTAssertEqual(page.tableValues(table, field: "worst-share"), worst.map(\.share))
        let worstFirst = try XCTUnwrap(worst.first)
        XCTAssertTrue(
            page.table(table)?.contains(">\(Self.mastered(worstFirst.k, epoch: last)) of \(Self.size(worstFirst.k))<") ?? false,
            "mastered of size")
    }

    /// An older run without class sizes: the same figures over counts.
    func testThousandClassesWithoutSizesFallBackToCounts() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try Self.writeRun(in: directory, name: "old", classes: Self.classes, epochs: 2, sizes: false)
        let page = HTMLInspector(html: try HTMLReport.load(directories: [run]).html())
        XCTAssertNil(page.plot("mastered-per-class-1"))
        let counts = (0..<Self.classes).map { Double(Self.mastered($0, epoch: 2)) }
        let histogram = try XCTUnwrap(page.seriesValues("class-share-histogram-1").first)
        XCTAssertEqual(histogram.values.reduce(0, +), Double(Self.classes))
        // Counts 0...9: one bucket per count.
        XCTAssertEqual(histogram.values, (0...9).map { c in Double(counts.filter { $0 == Double(c) }.count) })
        let median = try XCTUnwrap(page.seriesValues("class-share-percentiles-1").first { $0.label == "median" })
        XCTAssertEqual(median.values.last ?? -1, Self.quantile(counts, 0.5), accuracy: 1e-9)
        XCTAssertEqual(page.tableValues("class-extremes-1", field: "best-mastered").first, counts.max())
        XCTAssertEqual(page.tableValues("class-extremes-1", field: "best-share"), [])
    }

    func testTenClassesKeepTheHeatMap() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try Self.writeRun(in: directory, name: "ten", classes: 10, epochs: 3)
        let page = HTMLInspector(html: try HTMLReport.load(directories: [run]).html())
        XCTAssertEqual(page.attribute("data-rows", ofPlot: "mastered-per-class-1"), "10")
        XCTAssertEqual(page.attribute("data-columns", ofPlot: "mastered-per-class-1"), "3")
        XCTAssertNil(page.plot("class-share-histogram-1"))
        XCTAssertNil(page.table("class-extremes-1"))
    }

    /// The README's "up to 30 classes": 30 get the heat map, 31 the many-class figures.
    func testTheHeatMapStopsAtThirtyClasses() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (classes, heatMap) in [(30, true), (31, false)] {
            let run = try Self.writeRun(in: directory, name: "c\(classes)", classes: classes, epochs: 2)
            let page = HTMLInspector(html: try HTMLReport.load(directories: [run]).html())
            XCTAssertEqual(page.plot("mastered-per-class-1") != nil, heatMap, "\(classes) classes")
            XCTAssertEqual(page.plot("class-share-histogram-1") != nil, !heatMap, "\(classes) classes")
        }
    }
}
