import Foundation

/// A chart legend drawn inside the SVG, above the plot: entries left to right,
/// wrapping onto further rows rather than running past the chart's edge.
struct Legend {
    enum Swatch { case line(dash: String), box }

    struct Entry {
        var label: String
        var color: String
        var swatch: Swatch
    }

    var entries: [Entry]
    static let fontSize = 13.0
    static let rowHeight = 20.0

    /// Longest label shown in full; longer ones are shortened in the middle (the full
    /// label stays in the tooltip).
    static let maximumCharacters = 42

    /// The legend's rows within `width` pixels starting at (`x`, `y`): SVG and height.
    func render(x: Double, y: Double, width: Double) -> (svg: String, height: Double) {
        guard !entries.isEmpty else { return ("", 0) }
        var svg = "<g class=\"legend\">"
        var cursorX = x, row = 0
        for entry in entries {
            let text = Legend.shorten(entry.label)
            let entryWidth = 30 + Markup.textWidth(text, fontSize: Legend.fontSize) + 16
            if cursorX > x && cursorX + entryWidth > x + width {
                row += 1
                cursorX = x
            }
            let midY = y + Double(row) * Legend.rowHeight + Legend.rowHeight / 2
            let c = NumberText.coordinate
            switch entry.swatch {
            case .line(let dash):
                svg += "<line x1=\"\(c(cursorX))\" y1=\"\(c(midY))\" x2=\"\(c(cursorX + 24))\" y2=\"\(c(midY))\" "
                    + "stroke=\"\(entry.color)\" stroke-width=\"2.5\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>"
            case .box:
                svg += "<rect x=\"\(c(cursorX + 5))\" y=\"\(c(midY - 7))\" width=\"14\" height=\"14\" fill=\"\(entry.color)\"/>"
            }
            svg += "<text x=\"\(c(cursorX + 30))\" y=\"\(c(midY + 4.5))\" font-size=\"\(Int(Legend.fontSize))\">"
                + "<title>\(Markup.escape(entry.label))</title>\(Markup.escape(text))</text>"
            cursorX += entryWidth
        }
        svg += "</g>"
        return (svg, Double(row + 1) * Legend.rowHeight)
    }

    static func shorten(_ label: String) -> String {
        guard label.count > maximumCharacters else { return label }
        let keep = (maximumCharacters - 1) / 2
        return String(label.prefix(keep)) + "…" + String(label.suffix(keep))
    }
}
