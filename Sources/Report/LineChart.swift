import Foundation

/// One line of a line chart: a run (or a rank) over epochs.
public struct LineSeries: Sendable {
    public var label: String
    /// (epoch, value) pairs; epochs without a value are simply absent.
    public var points: [(x: Double, y: Double)]
    public var color: String
    public var dash: String

    public init(label: String, points: [(x: Double, y: Double)], color: String, dash: String = "") {
        self.label = label
        self.points = points
        self.color = color
        self.dash = dash
    }
}

/// Lines over epochs with a legend, round ticks and titled axes, as standalone SVG.
///
/// The `<svg>` carries `data-plot` (its identity) and `data-series` (how many lines);
/// each line is a `<polyline>` with `data-series` (its label), `data-points` and
/// `data-values` (its y values, comma-separated), so tests and scripts can check what
/// was drawn without parsing geometry.
public struct LineChart: Sendable {
    public var id: String
    public var title: String
    public var xTitle: String
    public var yTitle: String
    public var series: [LineSeries]
    public var includeZero: Bool
    /// Integer y ticks (counts).
    public var integerY: Bool
    public var width = 600.0
    public var height = 330.0

    public init(id: String, title: String, xTitle: String = "epoch", yTitle: String, series: [LineSeries],
                includeZero: Bool = false, integerY: Bool = false) {
        self.id = id
        self.title = title
        self.xTitle = xTitle
        self.yTitle = yTitle
        self.series = series
        self.includeZero = includeZero
        self.integerY = integerY
    }

    public func svg() -> String {
        let all = series.flatMap(\.points)
        let legend = Legend(entries: series.map { .init(label: $0.label, color: $0.color, swatch: .line(dash: $0.dash)) })
        let (legendSVG, legendHeight) = legend.render(x: 12, y: 6, width: width - 24)
        let scale = NiceScale(
            minimum: all.map(\.y).min() ?? 0, maximum: all.map(\.y).max() ?? 1, targetTicks: 6,
            integer: integerY, includeZero: includeZero)
        let frame = PlotFrame(width: width, height: height + legendHeight, top: 16 + legendHeight, y: scale,
                              xTitle: xTitle, yTitle: yTitle)
        let firstX = all.map(\.x).min() ?? 1, lastX = all.map(\.x).max() ?? 1
        let inset = 10.0
        func px(_ x: Double) -> Double {
            guard lastX > firstX else { return frame.left + frame.plotWidth / 2 }
            return frame.left + inset + (frame.plotWidth - 2 * inset) * (x - firstX) / (lastX - firstX)
        }
        let c = NumberText.coordinate
        var svg = PlotFrame.open(
            width: width, height: frame.height, plot: id, label: title, extra: " data-series=\"\(series.count)\"")
        svg += legendSVG + frame.axes()
        let labels = max(2, Int(frame.plotWidth / 60))
        svg += frame.xTicks(PlotFrame.epochTicks(first: Int(firstX), last: Int(lastX), maximumLabels: labels)
            .map { (px(Double($0)), String($0)) })
        let showMarkers = (series.map(\.points.count).max() ?? 0) <= 60
        for line in series {
            let coordinates = line.points.map { "\(c(px($0.x))),\(c(frame.yPosition($0.y)))" }.joined(separator: " ")
            svg += "<g><polyline data-series=\"\(Markup.escape(line.label))\" data-points=\"\(line.points.count)\" "
                + "data-values=\"\(line.points.map { String($0.y) }.joined(separator: ","))\" "
                + "points=\"\(coordinates)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2.5\" "
                + "stroke-linejoin=\"round\"\(line.dash.isEmpty ? "" : " stroke-dasharray=\"\(line.dash)\"")/>"
            if showMarkers {
                for point in line.points {
                    svg += "<circle cx=\"\(c(px(point.x)))\" cy=\"\(c(frame.yPosition(point.y)))\" r=\"3.5\" "
                        + "fill=\"\(line.color)\"><title>\(Markup.escape(line.label)), epoch \(NumberText.short(point.x)): "
                        + "\(NumberText.short(point.y))</title></circle>"
                }
            }
            svg += "</g>"
        }
        return svg + "</svg>"
    }
}
