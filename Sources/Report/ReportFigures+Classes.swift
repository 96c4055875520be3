import Foundation
import RunFormat

/// The per-class figures: a heat map (a row per class, a column per epoch) up to
/// `heatMapClasses` classes; above that, rows would be thinner than a pixel, so instead
/// the last epoch's distribution of classes over share buckets, the median and 10th/90th
/// percentile share over epochs, and a table of the best- and worst-mastered classes.
extension ReportFigures {
    /// The most classes drawn as a heat map (CIFAR-100 gets the summary figures).
    static let heatMapClasses = 30
    /// Rows of each half of the best/worst table.
    static let extremeClasses = 10

    /// Per run, the per-class figures, or a note when the run recorded no per-class counts.
    static func classFigures(_ runs: [TrainingRun]) -> [String] {
        runs.enumerated().flatMap { index, run -> [String] in
            guard let shares = ClassShares(run) else {
                return [note("\(run.label): no mastered_per_class in metrics.jsonl (recorded by newer versions of "
                    + "ies train), so no per-class view.", run: run.label)]
            }
            if shares.classes <= heatMapClasses { return [classHeatMap(shares, run: run, index: index)] }
            return [
                classHistogram(shares, run: run, index: index),
                classPercentiles(shares, run: run, index: index),
                classExtremes(shares, run: run, index: index),
            ]
        }
    }

    /// Mastered share (or count) per class and epoch.
    static func classHeatMap(_ shares: ClassShares, run: TrainingRun, index: Int) -> String {
        let columns = shares.records.indices
        let values = (0..<shares.classes).map { k in columns.map { shares.value(k, $0) } }
        let details = (0..<shares.classes).map { k in columns.map { shares.detail(k, $0) } }
        let maximum = shares.isShare ? 1 : max(values.flatMap { $0.compactMap { $0 } }.max() ?? 1, 1)
        let what = shares.isShare
            ? "Mastered share per class (%)" : "Mastered instances per class (counts: class sizes not recorded)"
        var map = HeatMap(
            id: "mastered-per-class-\(index + 1)", title: "\(what): \(run.label)", rowTitle: "class",
            rowLabels: (0..<shares.classes).map(String.init), columns: shares.records.map(\.epoch), values: values,
            maximum: maximum, isShare: shares.isShare, details: details)
        // The page's full width, so that a cell per epoch stays wide enough for its number.
        map.width = 1200
        return figure("\(what): \(run.label)", map.svg(), run: run.label, wide: true)
    }

    /// Classes per share bucket (or count range) after the last epoch with per-class counts.
    static func classHistogram(_ shares: ClassShares, run: TrainingRun, index: Int) -> String {
        let last = shares.records.count - 1
        let buckets = shares.histogram(last)
        let epoch = shares.records[last].epoch
        let title = "Classes by mastered \(shares.isShare ? "share" : "count (class sizes not recorded)") "
            + "after epoch \(epoch), \(shares.classes) classes: \(run.label)"
        var chart = StackedBarChart(
            id: "class-share-histogram-\(index + 1)", title: title,
            xTitle: shares.isShare ? "mastered share of the class (%)" : "mastered instances of the class",
            yTitle: "classes", categories: Array(buckets.counts.indices),
            components: [BarComponent(name: "classes", color: Palette.color(index), values: buckets.counts.map(Double.init))],
            integerY: true)
        chart.categoryLabels = buckets.labels
        return figure(title, chart.svg(), run: run.label)
    }

    /// The median and the 10th and 90th percentile of the per-class share over epochs.
    static func classPercentiles(_ shares: ClassShares, run: TrainingRun, index: Int) -> String {
        let scale = shares.isShare ? 100.0 : 1
        func line(_ label: String, _ p: Double, dash: String) -> LineSeries {
            let points = shares.records.indices.compactMap { column -> (x: Double, y: Double)? in
                ClassShares.quantile(shares.values(column).map(\.value), p).map {
                    (Double(shares.records[column].epoch), $0 * scale)
                }
            }
            return LineSeries(label: label, points: points, color: Palette.color(index), dash: dash)
        }
        let title = "Mastered \(shares.isShare ? "share" : "count") per class over epochs, median and "
            + "10th–90th percentile of \(shares.classes) classes: \(run.label)"
        let chart = LineChart(
            id: "class-share-percentiles-\(index + 1)", title: title,
            yTitle: shares.isShare ? "mastered share of a class (%)" : "mastered instances of a class",
            series: [line("90th percentile", 0.9, dash: "7 4"), line("median", 0.5, dash: ""),
                     line("10th percentile", 0.1, dash: "2 3")],
            includeZero: true)
        return figure(title, chart.svg(), run: run.label)
    }

    /// The best- and worst-mastered classes after the last epoch with per-class counts:
    /// class index, share and "mastered of size" side by side. Cells carry `data-field`
    /// and `data-value` like the summary table's.
    static func classExtremes(_ shares: ClassShares, run: TrainingRun, index: Int) -> String {
        let last = shares.records.count - 1
        let epoch = shares.records[last].epoch
        let best = shares.extremes(last, count: extremeClasses, best: true)
        let worst = shares.extremes(last, count: extremeClasses, best: false)
        func cells(_ side: String, _ entry: (k: Int, value: Double)?) -> String {
            guard let entry else {
                return "<td\(side == "worst" ? " class=\"split\"" : "")></td><td></td>" + (shares.isShare ? "<td></td>" : "")
            }
            let split = side == "worst" ? " split" : ""
            var html = "<td data-field=\"\(side)-class\" data-value=\"\(entry.k)\" class=\"number\(split)\">\(entry.k)</td>"
            if let sizes = shares.sizes {
                html += "<td data-field=\"\(side)-share\" data-value=\"\(entry.value)\" class=\"number\">"
                    + "\(NumberText.percent(entry.value, decimals: 1))</td>"
                let mastered = shares.mastered(entry.k, last) ?? 0
                html += "<td data-field=\"\(side)-mastered\" data-value=\"\(mastered)\" data-size=\"\(sizes[entry.k])\" "
                    + "class=\"number\">\(mastered) of \(sizes[entry.k])</td>"
            } else {
                html += "<td data-field=\"\(side)-mastered\" data-value=\"\(Int(entry.value))\" class=\"number\">"
                    + "\(Int(entry.value))</td>"
            }
            return html
        }
        let columns = shares.isShare ? ["class", "share", "mastered"] : ["class", "mastered"]
        var html = "<div class=\"table-wrap\"><table class=\"summary classes\" data-table=\"class-extremes-\(index + 1)\" "
            + "data-classes=\"\(shares.classes)\" data-epoch=\"\(epoch)\"><thead><tr>"
            + "<th colspan=\"\(columns.count)\">Best mastered</th><th colspan=\"\(columns.count)\" class=\"split\">Worst mastered</th></tr><tr>"
            + columns.map { "<th class=\"number\">\($0)</th>" }.joined()
            + columns.enumerated().map { "<th class=\"number\($0.offset == 0 ? " split" : "")\">\($0.element)</th>" }.joined()
            + "</tr></thead><tbody>"
        for row in 0..<max(best.count, worst.count) {
            html += "<tr>" + cells("best", row < best.count ? best[row] : nil)
                + cells("worst", row < worst.count ? worst[row] : nil) + "</tr>"
        }
        html += "</tbody></table></div>"
        let title = "Best- and worst-mastered classes after epoch \(epoch)"
            + "\(shares.isShare ? "" : " (counts: class sizes not recorded)"): \(run.label)"
        return figure(title, html, run: run.label)
    }
}
