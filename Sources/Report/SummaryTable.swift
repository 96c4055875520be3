import Foundation

/// The summary table: one row per run, and against the first run (the baseline) the
/// speedup and the accuracy differences when there are two or more runs.
///
/// Cells carry `data-field` and, for numbers, `data-value` with the unrounded value, so
/// that tests and scripts can read the table back.
struct SummaryTable {
    var summaries: [RunSummary]

    func html() -> String {
        let compare = summaries.count > 1
        // (header, right-aligned like its numbers)
        var headers: [(String, Bool)] = [
            ("Run", false), ("Model", false), ("Data", false), ("Ranks", true), ("Batch", true), ("IES", false),
            ("Epochs", true), ("Best test accuracy", true), ("Final test accuracy", true), ("Backprop saved", true),
            ("Wall time", true),
        ]
        if compare { headers += [("Speedup", true), ("Δ best accuracy", true), ("Δ final accuracy", true)] }
        var html = "<div class=\"table-wrap\"><table class=\"summary\" data-runs=\"\(summaries.count)\"><thead><tr>"
        html += headers.map { "<th\($0.1 ? " class=\"number\"" : "")>\(Markup.escape($0.0))</th>" }.joined()
        html += "</tr></thead><tbody>"
        for (index, run) in summaries.enumerated() {
            html += "<tr data-run=\"\(Markup.escape(run.label))\">"
            html += cell("run", run.label, className: "label")
            html += cell("model", run.model ?? "—")
            html += dataCell(run)
            html += cell("ranks", run.ranks.map(String.init) ?? "—", value: run.ranks.map(Double.init), numeric: true)
            html += cell("batch", run.batchSize.map(String.init) ?? "—", numeric: true)
            html += iesCell(run.mastery)
            html += cell(
                "epochs", run.inProgress ? "\(run.epochsDone) of \(run.epochsConfigured!)" : String(run.epochsDone),
                sub: run.inProgress ? "in progress" : nil, value: Double(run.epochsDone), numeric: true)
            html += cell(
                "best-accuracy", run.bestAccuracy.map { NumberText.percent($0) } ?? "—",
                sub: run.bestEpoch.map { "epoch \($0)" }, value: run.bestAccuracy, numeric: true)
            html += cell("final-accuracy", run.finalAccuracy.map { NumberText.percent($0) } ?? "—",
                         value: run.finalAccuracy, numeric: true)
            html += cell("backprop-saved", run.backpropSaved.map { NumberText.percent($0, decimals: 1) } ?? "—",
                         value: run.backpropSaved, numeric: true)
            html += cell("wall-time", NumberText.duration(run.wallSeconds), value: run.wallSeconds, numeric: true)
            if compare {
                let comparison = RunComparison(run: run, baseline: summaries[0])
                html += cell("speedup", comparison.speedup.map { String(format: "%.2f×", $0) } ?? "—",
                             sub: index == 0 ? "baseline" : nil, value: comparison.speedup, numeric: true)
                html += cell("delta-best-accuracy", index == 0 ? "baseline" : comparison.bestAccuracyPoints.map(NumberText.points) ?? "—",
                             value: comparison.bestAccuracyPoints, numeric: true)
                html += cell("delta-final-accuracy", index == 0 ? "baseline" : comparison.finalAccuracyPoints.map(NumberText.points) ?? "—",
                             value: comparison.finalAccuracyPoints, numeric: true)
            }
            html += "</tr>"
        }
        return html + "</tbody></table></div>"
    }

    /// The dataset directory's name, with the training instances below it.
    private func dataCell(_ run: RunSummary) -> String {
        guard let data = run.data else { return cell("data", "—") }
        let instances = run.trainCount.map { "\(NumberText.grouped(Double($0), decimals: 0)) training instances" }
            ?? run.limit.map { "first \(NumberText.grouped(Double($0), decimals: 0))" }
        return cell("data", (data as NSString).lastPathComponent, sub: instances, title: data)
    }

    /// "off", or the threshold with window and k below it.
    private func iesCell(_ mastery: IESSettings?) -> String {
        guard let mastery, let threshold = mastery.threshold else { return cell("ies", "—") }
        if threshold == 0 { return cell("ies", "off", sub: "plain training") }
        let rest = [mastery.window.map { "window \($0)" }, mastery.k.map { "k \($0)" }].compactMap { $0 }
        return cell("ies", String(format: "threshold %g", threshold), sub: rest.isEmpty ? nil : rest.joined(separator: ", "))
    }

    /// A cell with an optional second, smaller line (`sub`) so that the table stays
    /// narrow enough for a laptop screen without breaking values mid-word.
    private func cell(_ field: String, _ text: String, sub: String? = nil, value: Double? = nil, numeric: Bool = false,
                      className: String? = nil, title: String? = nil) -> String {
        let classes = [numeric ? "number" : nil, className].compactMap { $0 }.joined(separator: " ")
        return "<td data-field=\"\(field)\"\(value.map { " data-value=\"\($0)\"" } ?? "")"
            + "\(classes.isEmpty ? "" : " class=\"\(classes)\"")\(title.map { " title=\"\(Markup.escape($0))\"" } ?? "")>"
            + Markup.escape(text) + (sub.map { "<span class=\"sub\">\(Markup.escape($0))</span>" } ?? "") + "</td>"
    }
}
