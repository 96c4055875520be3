import Foundation

/// One layer of a stacked bar chart: a component's value per category.
public struct BarComponent: Sendable {
    public var name: String
    public var color: String
    /// One value per category (missing values are 0).
    public var values: [Double]

    public init(name: String, color: String, values: [Double]) {
        self.name = name
        self.color = color
        self.values = values
    }
}

/// Bars per epoch (or per named category), each split into stacked components (bottom
/// first), as standalone SVG. Each component is a `<g data-series="name" data-points="bars"
/// data-values="v1,v2,...">` of `<rect>`s.
public struct StackedBarChart: Sendable {
    public var id: String
    public var title: String
    public var xTitle: String
    public var yTitle: String
    /// The epoch of each bar.
    public var categories: [Int]
    /// Labels that replace the epochs under the bars (a histogram's buckets); empty: epochs.
    public var categoryLabels: [String] = []
    public var components: [BarComponent]
    /// Top of the y range when several charts should share one scale; else the tallest bar.
    public var yMaximum: Double?
    public var integerY: Bool
    /// Formats a value for tooltips.
    public var unit: String
    public var width = 600.0
    public var height = 330.0

    public init(id: String, title: String, xTitle: String = "epoch", yTitle: String, categories: [Int],
                components: [BarComponent], yMaximum: Double? = nil, integerY: Bool = false, unit: String = "") {
        self.id = id
        self.title = title
        self.xTitle = xTitle
        self.yTitle = yTitle
        self.categories = categories
        self.components = components
        self.yMaximum = yMaximum
        self.integerY = integerY
        self.unit = unit
    }

    /// Height of each bar (the sum of its components).
    public var totals: [Double] {
        categories.indices.map { i in components.reduce(0) { $0 + (i < $1.values.count ? max($1.values[i], 0) : 0) } }
    }

    public func svg() -> String {
        let showLegend = components.count > 1
        let legend = Legend(entries: showLegend ? components.map { .init(label: $0.name, color: $0.color, swatch: .box) } : [])
        let (legendSVG, legendHeight) = legend.render(x: 12, y: 6, width: width - 24)
        let scale = NiceScale(minimum: 0, maximum: max(yMaximum ?? 0, totals.max() ?? 0, 1e-9), targetTicks: 6,
                              integer: integerY, includeZero: true)
        let frame = PlotFrame(width: width, height: height + legendHeight, top: 16 + legendHeight, y: scale,
                              xTitle: xTitle, yTitle: yTitle)
        let c = NumberText.coordinate
        let band = frame.plotWidth / Double(max(categories.count, 1))
        let barWidth = max(band * 0.72, 1)
        func center(_ i: Int) -> Double { frame.left + band * (Double(i) + 0.5) }
        var svg = PlotFrame.open(
            width: width, height: frame.height, plot: id, label: title, extra: " data-series=\"\(components.count)\"")
        svg += legendSVG + frame.axes()
        // Label every k-th bar (k round: 1, 2, 5, 10, ...) so that labels stay about 40 px apart.
        let every = PlotFrame.roundStride(40 / band)
        var labelled = categories.indices.filter { every == 1 || categories[$0] % every == 0 }
        if let first = labelled.first, first >= every { labelled.insert(0, at: 0) }
        if labelled.isEmpty, !categories.isEmpty { labelled = [0] }
        func label(_ i: Int) -> String { i < categoryLabels.count ? categoryLabels[i] : String(categories[i]) }
        let categoryName = categoryLabels.isEmpty ? "epoch" : Markup.escape(xTitle)
        svg += frame.xTicks(labelled.map { (center($0), label($0)) })
        var base = [Double](repeating: 0, count: categories.count)
        for component in components {
            let values = categories.indices.map { String($0 < component.values.count ? component.values[$0] : 0) }
            svg += "<g data-series=\"\(Markup.escape(component.name))\" data-points=\"\(categories.count)\" "
                + "data-values=\"\(values.joined(separator: ","))\" fill=\"\(component.color)\">"
            for i in categories.indices {
                let value = i < component.values.count ? max(component.values[i], 0) : 0
                let y0 = frame.yPosition(base[i]), y1 = frame.yPosition(base[i] + value)
                base[i] += value
                guard y0 - y1 > 0.05 else { continue }
                svg += "<rect x=\"\(c(center(i) - barWidth / 2))\" y=\"\(c(y1))\" width=\"\(c(barWidth))\" "
                    + "height=\"\(c(y0 - y1))\" stroke=\"#FFFFFF\" stroke-width=\"0.6\">"
                    + "<title>\(categoryName) \(Markup.escape(label(i))), "
                    + "\(Markup.escape(component.name)): \(NumberText.short(value))\(unit)</title></rect>"
            }
            svg += "</g>"
        }
        return svg + "</svg>"
    }
}
