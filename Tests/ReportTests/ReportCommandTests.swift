import Foundation
import TestSupport
import XCTest

/// `ies report` through the command line: output file, errors naming the path.
final class ReportCommandTests: XCTestCase {
    private func ies() throws -> String { try BuiltProducts.require("ies") }

    func testWritesTheReportWhereAsked() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/out.html"
        let result = try Subprocess.run(
            try ies(), ["report", ReportTestSupport.fixture("mlp-1rank"), ReportTestSupport.fixture("mlp-2ranks"),
                        "--output", output], timeout: 60)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("wrote \(output) (2 runs)"), result.stdout)
        let html = try String(contentsOfFile: output, encoding: .utf8)
        XCTAssertTrue(html.contains("data-plot=\"test-accuracy\""))
    }

    func testDefaultOutputIsReportHTMLInTheCurrentDirectory() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try Subprocess.run(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$1\" report \"$2\"", directory, try ies(), ReportTestSupport.fixture("mlp-1rank")],
            timeout: 60)
        XCTAssertEqual(process.status, 0, process.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/report.html"))
    }

    func testRunDirectoryWithoutMetricsIsNamedInTheError() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Subprocess.run(
            try ies(), ["report", ReportTestSupport.fixture("mlp-1rank"), directory, "-o", directory + "/r.html"], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
        XCTAssertEqual(errors.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains(directory) && result.stderr.contains("metrics.jsonl"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/r.html"))
    }

    func testNoRunDirectoryIsAUsageError() throws {
        let result = try Subprocess.run(try ies(), ["report"], timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("<run-dir>"), result.stderr)
    }
}
