import Foundation
import RunFormat

/// The charts of the report, built from the runs' records. Colours follow the run
/// (or rank) index everywhere, so a run keeps its colour from chart to chart.
enum ReportFigures {
    /// A chart with its caption; `run` names the run of a per-run chart.
    static func figure(_ title: String, _ svg: String, run: String? = nil, wide: Bool = false) -> String {
        "<figure class=\"chart\(wide ? " wide" : "")\"\(run.map { " data-run=\"\(Markup.escape($0))\"" } ?? "")>"
            + "<figcaption>\(Markup.escape(title))</figcaption>\(svg)</figure>"
    }

    static func note(_ text: String, run: String? = nil) -> String {
        "<p class=\"note\"\(run.map { " data-run=\"\(Markup.escape($0))\"" } ?? "")>\(Markup.escape(text))</p>"
    }

    /// One line per run of `value` over epochs.
    static func perRunLine(
        _ runs: [TrainingRun], id: String, title: String, yTitle: String, includeZero: Bool = false,
        integerY: Bool = false, value: (EpochMetrics) -> Double?
    ) -> String? {
        let series = runs.enumerated().map { index, run in
            LineSeries(
                label: run.label,
                points: run.records.compactMap { record in value(record).map { (Double(record.epoch), $0) } },
                color: Palette.color(index), dash: Palette.dash(index))
        }
        guard series.contains(where: { !$0.points.isEmpty }) else { return nil }
        let chart = LineChart(id: id, title: title, yTitle: yTitle, series: series, includeZero: includeZero, integerY: integerY)
        return figure(title, chart.svg())
    }

    /// Stacked time components per epoch, one chart per run on a shared y scale and with
    /// the same components (and so the same legend and plot height) in every chart, so
    /// that side-by-side bars compare directly.
    static func timeCharts(_ runs: [TrainingRun]) -> [String] {
        let times = runs.map { $0.records.map(EpochTimes.init) }
        let tallest = times.flatMap { $0.map(\.total) }.max() ?? 0
        // Components below 0.2% of every run's time (a one-rank "allreduce" of microseconds)
        // would be invisible slivers and only clutter the legend.
        let shown = EpochTimes.components.indices.filter { k in
            times.contains { epochs in
                let part = epochs.map { $0.values[k] }.reduce(0, +)
                return part > 0 && part >= 0.002 * epochs.map(\.total).reduce(0, +)
            }
        }
        return runs.enumerated().map { index, run in
            let components = shown.map { k in
                BarComponent(name: EpochTimes.components[k], color: Palette.components[k], values: times[index].map { $0.values[k] })
            }
            let chart = StackedBarChart(
                id: "time-per-epoch-\(index + 1)", title: "Time per epoch: \(run.label)", yTitle: "time per epoch (s)",
                categories: run.records.map(\.epoch), components: components, yMaximum: tallest, unit: " s")
            return figure("Time per epoch: \(run.label)", chart.svg(), run: run.label)
        }
    }

    /// Per-rank unmastered counts before and after rebalancing, and instances moved;
    /// a note for single-rank runs and runs that did not record them.
    static func rebalanceCharts(_ runs: [TrainingRun]) -> [String] {
        runs.enumerated().flatMap { index, run -> [String] in
            let records = run.records
            let ranks = records.map { max($0.worldSize, $0.unmasteredPerRankBefore.count) }.max() ?? 1
            guard ranks > 1 else {
                return [note("\(run.label): single rank, nothing to rebalance.", run: run.label)]
            }
            guard records.contains(where: { !$0.unmasteredPerRankBefore.isEmpty }) else {
                return [note("\(run.label): \(ranks) ranks, but this run did not record per-rank counts "
                    + "(unmastered_per_rank_before/after).", run: run.label)]
            }
            let series = rankSeries(records, ranks: ranks)
            let counts = LineChart(
                id: "unmastered-per-rank-\(index + 1)", title: "Unmastered instances per rank: \(run.label)",
                yTitle: "unmastered instances", series: series, includeZero: true, integerY: true)
            let moved = StackedBarChart(
                id: "instances-moved-\(index + 1)", title: "Instances moved by rebalancing: \(run.label)",
                yTitle: "instances moved", categories: records.map(\.epoch),
                components: [BarComponent(name: "moved", color: Palette.color(index), values: records.map {
                    Double($0.instancesMoved)
                })], integerY: true)
            return [
                figure("Unmastered instances per rank, before (dashed) and after (solid) rebalancing: \(run.label)",
                       counts.svg(), run: run.label),
                figure("Instances moved by rebalancing: \(run.label)", moved.svg(), run: run.label),
            ]
        }
    }

    /// Up to 8 ranks: one colour per rank, dashed before and solid after rebalancing.
    /// More ranks: the largest and smallest rank's count, before and after.
    static func rankSeries(_ records: [EpochMetrics], ranks: Int) -> [LineSeries] {
        func points(_ pick: (EpochMetrics) -> Double?) -> [(x: Double, y: Double)] {
            records.compactMap { record in pick(record).map { (Double(record.epoch), $0) } }
        }
        func at(_ array: [Int], _ rank: Int) -> Double? {
            guard rank < array.count else { return nil }
            return Double(array[rank])
        }
        if ranks <= 8 {
            return (0..<ranks).flatMap { rank in [
                LineSeries(label: "rank \(rank) before", points: points { at($0.unmasteredPerRankBefore, rank) },
                           color: Palette.color(rank), dash: "7 4"),
                LineSeries(label: "rank \(rank) after", points: points { at($0.unmasteredPerRankAfter, rank) },
                           color: Palette.color(rank)),
            ] }
        }
        func extreme(_ array: [Int], _ largest: Bool) -> Double? {
            (largest ? array.max() : array.min()).map(Double.init)
        }
        return [
            LineSeries(label: "largest rank before", points: points { extreme($0.unmasteredPerRankBefore, true) },
                       color: Palette.color(1), dash: "7 4"),
            LineSeries(label: "smallest rank before", points: points { extreme($0.unmasteredPerRankBefore, false) },
                       color: Palette.color(0), dash: "7 4"),
            LineSeries(label: "largest rank after", points: points { extreme($0.unmasteredPerRankAfter, true) },
                       color: Palette.color(1)),
            LineSeries(label: "smallest rank after", points: points { extreme($0.unmasteredPerRankAfter, false) },
                       color: Palette.color(0)),
        ]
    }
}
