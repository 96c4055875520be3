import Foundation

/// Rows x epochs of coloured cells (viridis) with a colour bar, as standalone SVG.
/// The `<svg>` carries `data-rows` and `data-columns`; each cell is a `<rect
/// data-row data-column data-value>`.
public struct HeatMap: Sendable {
    public var id: String
    public var title: String
    public var rowTitle: String
    public var rowLabels: [String]
    /// The epoch of each column.
    public var columns: [Int]
    /// values[row][column]; nil cells are left grey.
    public var values: [[Double?]]
    /// Values map to colours over 0...maximum.
    public var maximum: Double
    /// True: values are shares (0...1) shown as percentages; false: counts.
    public var isShare: Bool
    /// Optional tooltip detail per cell (e.g. "112 of 303").
    public var details: [[String?]]
    public var width = 600.0

    public init(id: String, title: String, rowTitle: String, rowLabels: [String], columns: [Int], values: [[Double?]],
                maximum: Double, isShare: Bool, details: [[String?]] = []) {
        self.id = id
        self.title = title
        self.rowTitle = rowTitle
        self.rowLabels = rowLabels
        self.columns = columns
        self.values = values
        self.maximum = maximum
        self.isShare = isShare
        self.details = details
    }

    public func svg() -> String {
        let c = NumberText.coordinate
        let rowHeight = rowLabels.count <= 20 ? 22.0 : max(4, 440 / Double(rowLabels.count))
        let labelEvery = max(1, Int((14 / rowHeight).rounded(.up)))
        let widestRow = rowLabels.map { Markup.textWidth($0, fontSize: 12) }.max() ?? 10
        let left = 28 + widestRow + 8, right = 70.0, top = 12.0
        let plotWidth = width - left - right
        let cellWidth = plotWidth / Double(max(columns.count, 1))
        let plotHeight = rowHeight * Double(rowLabels.count)
        let height = top + plotHeight + 52
        let showText = cellWidth >= 27 && rowHeight >= 15
        var svg = PlotFrame.open(
            width: width, height: height, plot: id, label: title,
            extra: " data-rows=\"\(rowLabels.count)\" data-columns=\"\(columns.count)\"")
        for (row, label) in rowLabels.enumerated() {
            let y = top + rowHeight * Double(row)
            if row % labelEvery == 0 {
                svg += "<text x=\"\(c(left - 6))\" y=\"\(c(y + rowHeight / 2 + 4))\" text-anchor=\"end\" font-size=\"12\" "
                    + "fill=\"#333\">\(Markup.escape(label))</text>"
            }
            for (column, epoch) in columns.enumerated() {
                let x = left + cellWidth * Double(column)
                let value = row < values.count && column < values[row].count ? values[row][column] : nil
                let t = value.map { maximum > 0 ? $0 / maximum : 0 } ?? 0
                let text = value.map { isShare ? String(format: "%.0f", $0 * 100) : NumberText.short($0) } ?? "–"
                let detail = row < details.count && column < details[row].count ? details[row][column] : nil
                let tooltip = "\(rowTitle) \(label), epoch \(epoch): \(value.map { isShare ? NumberText.percent($0, decimals: 1) : text } ?? "no data")"
                    + (detail.map { " (\($0))" } ?? "")
                svg += "<rect x=\"\(c(x))\" y=\"\(c(y))\" width=\"\(c(cellWidth))\" height=\"\(c(rowHeight))\" "
                    + "fill=\"\(value == nil ? "#DDDDDD" : Palette.viridis(t))\" stroke=\"#FFFFFF\" stroke-width=\"0.5\" "
                    + "data-row=\"\(row)\" data-column=\"\(column)\" data-value=\"\(value.map { String($0) } ?? "")\">"
                    + "<title>\(Markup.escape(tooltip))</title></rect>"
                if showText, value != nil {
                    let size = cellWidth >= 34 ? 12 : 11
                    svg += "<text x=\"\(c(x + cellWidth / 2))\" y=\"\(c(y + rowHeight / 2 + 4))\" text-anchor=\"middle\" "
                        + "font-size=\"\(size)\" fill=\"\(Palette.textOnViridis(t))\">\(text)</text>"
                }
            }
        }
        // Epoch labels under the columns, spaced about 40 px apart.
        let every = PlotFrame.roundStride(40 / cellWidth)
        for (column, epoch) in columns.enumerated() where epoch % every == 0 || every == 1 {
            svg += "<text x=\"\(c(left + cellWidth * (Double(column) + 0.5)))\" y=\"\(c(top + plotHeight + 18))\" "
                + "text-anchor=\"middle\" font-size=\"13\" fill=\"#333\">\(epoch)</text>"
        }
        svg += "<text x=\"\(c(left + plotWidth / 2))\" y=\"\(c(height - 10))\" text-anchor=\"middle\" font-size=\"14\" "
            + "fill=\"#222\">epoch</text>"
        svg += "<text transform=\"translate(16 \(c(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" "
            + "font-size=\"14\" fill=\"#222\">\(Markup.escape(rowTitle))</text>"
        svg += colorBar(x: width - right + 14, y: top, height: plotHeight)
        return svg + "</svg>"
    }

    /// A vertical viridis bar with its scale (0 at the bottom), drawn as stacked
    /// bands rather than a gradient so that it needs no element ids.
    private func colorBar(x: Double, y: Double, height: Double) -> String {
        let c = NumberText.coordinate
        let bands = 40
        var svg = "<g class=\"color-bar\">"
        for i in 0..<bands {
            let t = (Double(i) + 0.5) / Double(bands)
            let top = y + height * (1 - Double(i + 1) / Double(bands))
            svg += "<rect x=\"\(c(x))\" y=\"\(c(top))\" width=\"14\" height=\"\(c(height / Double(bands) + 0.4))\" "
                + "fill=\"\(Palette.viridis(t))\"/>"
        }
        let scale = NiceScale(minimum: 0, maximum: maximum, targetTicks: 5, integer: !isShare, includeZero: true)
        for tick in scale.ticks where tick <= maximum + 1e-9 {
            let ty = y + height * (1 - tick / max(maximum, 1e-12))
            let label = isShare ? String(format: "%.0f%%", tick * 100) : scale.label(tick)
            svg += "<text x=\"\(c(x + 19))\" y=\"\(c(ty + 4))\" font-size=\"12\" fill=\"#333\">\(label)</text>"
        }
        return svg + "</g>"
    }
}
