import DurableIO
import Foundation

/// The whole report as one self-contained HTML file: inline CSS and SVG, no scripts,
/// no fonts or images from anywhere, so it reads the same offline, attached to an
/// issue, or years later. The first run is the baseline of every comparison.
public struct HTMLReport: Sendable {
    public var runs: [TrainingRun]
    /// Shown in the header; fixed by tests for reproducible output.
    public var generated: Date

    public init(runs: [TrainingRun], generated: Date = Date()) {
        self.runs = runs
        self.generated = generated
    }

    /// Loads each run directory (labels made distinct) and builds the report.
    public static func load(directories: [String]) throws -> HTMLReport {
        let labels = RunLabels.labels(for: directories)
        let runs = try zip(directories, labels).map { directory, label -> TrainingRun in
            var run = try TrainingRun.load(directory: directory)
            run.label = label
            return run
        }
        return HTMLReport(runs: runs)
    }

    public var warnings: [String] { runs.flatMap(\.warnings) }

    public func html() -> String {
        let summaries = runs.map(RunSummary.init)
        let formatter = ISO8601DateFormatter()
        var body = "<header><h1>IES training report</h1><p class=\"meta\">\(runs.count) run\(runs.count == 1 ? "" : "s")"
            + (runs.count > 1 ? "; the first, <b>\(Markup.escape(runs[0].label))</b>, is the baseline" : "")
            + ". Generated \(formatter.string(from: generated)) by <code>ies report</code>.</p><ul class=\"runs\">"
        for (index, run) in runs.enumerated() {
            body += "<li><span class=\"swatch\" style=\"background:\(Palette.color(index))\"></span>"
                + "<b>\(Markup.escape(run.label))</b>: <code>\(Markup.escape(run.directory))</code></li>"
        }
        body += "</ul></header>"

        body += section("Summary", [SummaryTable(summaries: summaries).html()]
            + warnings.map { ReportFigures.note("Note: \($0)") }
            + [ReportFigures.note(
                "Wall time is the sum of the epochs' times (training, probing, evaluation, allreduce, rebalancing, "
                    + "checkpointing and the rest) from metrics.jsonl. Backprop saved: share of instance-epochs not "
                    + "backpropagated so far. "
                    + (runs.count > 1 ? "Speedup = baseline wall time ÷ run wall time; Δ in percentage points against the baseline." : ""))],
            grid: false)

        body += section("Test accuracy and loss", [
            ReportFigures.perRunLine(runs, id: "test-accuracy", title: "Test accuracy", yTitle: "test accuracy (%)") {
                $0.testAccuracy * 100
            },
            ReportFigures.perRunLine(runs, id: "test-loss", title: "Test loss", yTitle: "test loss (cross-entropy)") {
                $0.testLoss
            },
        ].compactMap { $0 })

        body += section("Instances: trained, probed, mastered, returned", [
            ReportFigures.perRunLine(runs, id: "trained", title: "Trained (backpropagated) instances per epoch",
                                     yTitle: "instances", includeZero: true, integerY: true) { Double($0.trained) },
            ReportFigures.perRunLine(runs, id: "probed", title: "Probed (mastered, forward pass only) instances per epoch",
                                     yTitle: "instances", includeZero: true, integerY: true) { Double($0.probed) },
            ReportFigures.perRunLine(runs, id: "mastered", title: "Mastered instances after each epoch",
                                     yTitle: "instances", includeZero: true, integerY: true) { Double($0.mastered) },
            ReportFigures.perRunLine(runs, id: "returned", title: "Returned instances (mastered, then their loss moved)",
                                     yTitle: "instances", includeZero: true, integerY: true) { Double($0.returned) },
            ReportFigures.perRunLine(runs, id: "backprop-saved", title: "Backpropagation saved, cumulative",
                                     yTitle: "backprop saved (%)", includeZero: true) { $0.backpropSaved * 100 },
        ].compactMap { $0 })

        body += section("Time per epoch", ReportFigures.timeCharts(runs))
        body += section("Rebalancing between ranks", ReportFigures.rebalanceCharts(runs))
        body += section("Mastered share per class", ReportFigures.classFigures(runs))
        body += section("Learning rate", [
            ReportFigures.perRunLine(runs, id: "lr", title: "Learning rate per epoch", yTitle: "learning rate") { $0.lr }
        ].compactMap { $0 })

        return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            + "<title>IES report: \(Markup.escape(runs.map(\.label).joined(separator: " vs ")))</title>"
            + "<style>\(ReportStyle.css)</style></head><body><main>\(body)</main></body></html>\n"
    }

    /// A titled section; its charts go into the two-column grid, notes (a run with a
    /// single rank, a field not recorded) above it at full width.
    private func section(_ title: String, _ items: [String], grid: Bool = true) -> String {
        let id = title.lowercased().filter { $0.isLetter || $0 == " " }.replacingOccurrences(of: " ", with: "-")
        var html = "<section id=\"\(id)\"><h2>\(Markup.escape(title))</h2>"
        guard grid else { return html + items.joined() + "</section>" }
        let notes = items.filter { $0.hasPrefix("<p class=\"note\"") }
        let charts = items.filter { !$0.hasPrefix("<p class=\"note\"") }
        html += notes.joined()
        if !charts.isEmpty { html += "<div class=\"grid\">\(charts.joined())</div>" }
        return html + "</section>"
    }

    /// Writes the report to `path` (replacing it).
    public func write(to path: String) throws {
        do {
            try Data(html().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportError.cannotWrite(
                path: path, message: PathCheck.problem(path, as: .file) ?? error.localizedDescription)
        }
    }
}
