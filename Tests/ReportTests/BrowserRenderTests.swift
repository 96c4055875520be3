import Foundation
import Report
import TestSupport
import XCTest

/// A real browser renders the report: headless Chromium takes a screenshot at a laptop's
/// width, and the pixels must show the charts (not a blank or broken page).
final class BrowserRenderTests: XCTestCase {
    static let width = 1280, height = 2400

    private func chromium() throws -> String {
        try ExternalTool.require(
            "chromium", "chromium-browser", "google-chrome", hint: "apt-get install chromium; scripts/install-deps.sh")
    }

    /// Screenshot of `html` at width x height; returns the decoded PNG.
    private func screenshot(_ html: String, in directory: String, name: String) throws -> PNGImage {
        let browser = try chromium()
        let page = directory + "/\(name).html", png = directory + "/\(name).png"
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        var arguments = [
            "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run", "--force-device-scale-factor=1",
            "--user-data-dir=\(directory)/profile-\(name)", "--window-size=\(Self.width),\(Self.height)",
            "--screenshot=\(png)", URL(fileURLWithPath: page).absoluteString,
        ]
        if getuid() == 0 { arguments.insert("--no-sandbox", at: 0) }  // Chromium refuses to run as root otherwise
        let result = try Subprocess.run(browser, arguments, timeout: 120)
        XCTAssertFalse(result.timedOut, "chromium did not finish within 120 s")
        XCTAssertTrue(FileManager.default.fileExists(atPath: png), "no screenshot; chromium said: \(result.stderr.suffix(2000))")
        return try PNGImage(path: png)
    }

    func testChromiumRendersTheReportWithItsCharts() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let html = try HTMLReport.load(directories: [
            ReportTestSupport.fixture("mlp-1rank"), ReportTestSupport.fixture("mlp-2ranks"),
        ]).html()
        let image = try screenshot(html, in: directory, name: "report")
        XCTAssertEqual(image.width, Self.width)
        XCTAssertEqual(image.height, Self.height)

        // A blank page in the same browser, to show that the checks below tell them apart.
        let blank = try screenshot("<!DOCTYPE html><html><body></body></html>", in: directory, name: "blank")
        XCTAssertLessThan(blank.inkedShare, 0.001)
        XCTAssertEqual(blank.count(near: Palette.color(0)), 0)

        // Text, grid and bars cover a good part of the page, and both runs' line colours
        // (and the time chart's evaluation green) are really drawn.
        XCTAssertGreaterThan(image.inkedShare, 0.05, "the screenshot is nearly blank")
        XCTAssertGreaterThan(image.count(near: Palette.color(0)), 2000, "no blue (first run) pixels")
        XCTAssertGreaterThan(image.count(near: Palette.color(1)), 2000, "no vermillion (second run) pixels")
        XCTAssertGreaterThan(image.count(near: Palette.components[2]), 2000, "no evaluation bars")
    }

    /// A 1,000-class run (the many-class figures instead of a heat map) renders as a page
    /// with ink and the run's colour, not a blank or broken one.
    func testChromiumRendersAThousandClassPage() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try ManyClassesTests.writeRun(in: directory, name: "thousand", classes: 1000, epochs: 4)
        let html = try HTMLReport.load(directories: [run]).html()
        let image = try screenshot(html, in: directory, name: "thousand")
        XCTAssertEqual(image.width, Self.width)
        // (The page has more charts than the screenshot's height; a blank one inks under 0.001.)
        XCTAssertGreaterThan(image.inkedShare, 0.02, "the screenshot is nearly blank")
        XCTAssertGreaterThan(image.count(near: Palette.color(0)), 2000, "no blue (the run's) pixels")
    }
}
