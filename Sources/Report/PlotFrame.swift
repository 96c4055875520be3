import Foundation

/// The geometry shared by the charts: SVG size, the margins that leave room for the
/// legend, tick labels and axis titles, and the y axis with its grid.
struct PlotFrame {
    static let tickFontSize = 13.0
    static let titleFontSize = 14.0

    var width: Double
    var height: Double
    var top: Double
    var left: Double
    var right = 18.0
    var bottom = 52.0
    var y: NiceScale
    var xTitle: String
    var yTitle: String

    /// `top` is where the plot area starts (below the legend); the left margin grows
    /// with the widest y tick label so labels never collide with the axis title.
    init(width: Double, height: Double, top: Double, y: NiceScale, xTitle: String, yTitle: String) {
        self.width = width
        self.height = height
        self.top = top
        self.y = y
        self.xTitle = xTitle
        self.yTitle = yTitle
        let widest = y.ticks.map { Markup.textWidth(y.label($0), fontSize: PlotFrame.tickFontSize) }.max() ?? 20
        left = 28 + widest + 10
    }

    var plotWidth: Double { width - left - right }
    var plotHeight: Double { height - top - bottom }
    var plotBottom: Double { top + plotHeight }

    func yPosition(_ value: Double) -> Double { top + plotHeight * (1 - y.fraction(value)) }

    /// Horizontal grid lines, y tick labels, the y title (rotated), the x title, and
    /// the axis lines.
    func axes() -> String {
        let c = NumberText.coordinate
        var svg = "<g class=\"axes\">"
        for tick in y.ticks {
            let py = yPosition(tick)
            svg += "<line x1=\"\(c(left))\" y1=\"\(c(py))\" x2=\"\(c(left + plotWidth))\" y2=\"\(c(py))\" stroke=\"#E3E3E3\"/>"
            svg += "<text x=\"\(c(left - 8))\" y=\"\(c(py + 4.5))\" text-anchor=\"end\" font-size=\"\(Int(PlotFrame.tickFontSize))\" "
                + "fill=\"#333\">\(Markup.escape(y.label(tick)))</text>"
        }
        svg += "<line x1=\"\(c(left))\" y1=\"\(c(top))\" x2=\"\(c(left))\" y2=\"\(c(plotBottom))\" stroke=\"#555\"/>"
        svg += "<line x1=\"\(c(left))\" y1=\"\(c(plotBottom))\" x2=\"\(c(left + plotWidth))\" y2=\"\(c(plotBottom))\" stroke=\"#555\"/>"
        let midY = top + plotHeight / 2
        svg += "<text transform=\"translate(16 \(c(midY))) rotate(-90)\" text-anchor=\"middle\" "
            + "font-size=\"\(Int(PlotFrame.titleFontSize))\" fill=\"#222\">\(Markup.escape(yTitle))</text>"
        svg += "<text x=\"\(c(left + plotWidth / 2))\" y=\"\(c(height - 10))\" text-anchor=\"middle\" "
            + "font-size=\"\(Int(PlotFrame.titleFontSize))\" fill=\"#222\">\(Markup.escape(xTitle))</text>"
        return svg + "</g>"
    }

    /// x tick marks and labels at pixel positions.
    func xTicks(_ ticks: [(x: Double, label: String)]) -> String {
        let c = NumberText.coordinate
        var svg = "<g class=\"x-ticks\">"
        for tick in ticks {
            svg += "<line x1=\"\(c(tick.x))\" y1=\"\(c(plotBottom))\" x2=\"\(c(tick.x))\" y2=\"\(c(plotBottom + 5))\" stroke=\"#555\"/>"
            svg += "<text x=\"\(c(tick.x))\" y=\"\(c(plotBottom + 20))\" text-anchor=\"middle\" "
                + "font-size=\"\(Int(PlotFrame.tickFontSize))\" fill=\"#333\">\(Markup.escape(tick.label))</text>"
        }
        return svg + "</g>"
    }

    /// Integer epochs to label between `first` and `last`: multiples of a round step,
    /// plus the first epoch when it is not too close to the next label.
    static func epochTicks(first: Int, last: Int, maximumLabels: Int) -> [Int] {
        guard last > first else { return [first] }
        let scale = NiceScale(
            minimum: Double(first), maximum: Double(last), targetTicks: max(2, min(maximumLabels, last - first + 1)),
            integer: true)
        let step = Int(scale.step)
        var ticks = stride(from: Int(scale.lower), through: last, by: step).filter { $0 >= first }
        if let next = ticks.first, next != first, Double(next - first) >= Double(step) * 0.5 { ticks.insert(first, at: 0) }
        if ticks.isEmpty { ticks = [first] }
        return ticks
    }

    /// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `minimum`: label every
    /// so many bars or cells.
    static func roundStride(_ minimum: Double) -> Int {
        var stride = 1
        while Double(stride) < minimum {
            let digits = String(stride)
            stride = digits.hasPrefix("1") ? stride * 2 : digits.hasPrefix("2") ? stride / 2 * 5 : stride * 2
        }
        return stride
    }

    /// The opening tag every chart uses: scalable, with its identity in data attributes.
    static func open(width: Double, height: Double, plot: String, label: String, extra: String = "") -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" "
            + "aria-label=\"\(Markup.escape(label))\" data-plot=\"\(Markup.escape(plot))\"\(extra)>"
    }
}
