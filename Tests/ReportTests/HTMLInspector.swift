import Foundation

/// Reads back what a report drew, from the data attributes the charts carry, without
/// an HTML parser: enough for tests to count plots, series and points.
struct HTMLInspector {
    let html: String

    /// The `<svg ...>` element (up to its `</svg>`) with `data-plot="id"`, or nil.
    func plot(_ id: String) -> String? {
        guard let start = html.range(of: "data-plot=\"\(id)\"") else { return nil }
        let open = html[..<start.lowerBound].range(of: "<svg", options: .backwards)!.lowerBound
        let end = html.range(of: "</svg>", range: start.upperBound..<html.endIndex)!.upperBound
        return String(html[open..<end])
    }

    /// Every `data-plot` id, in document order.
    var plotIDs: [String] { Self.values(of: "data-plot", in: html) }

    /// (label, point count) of each line of a line chart (or layer of a bar chart).
    func series(_ id: String) -> [(label: String, points: Int)] {
        seriesTags(id).map { tag in
            (Self.values(of: "data-series", in: tag).first ?? "", Int(Self.values(of: "data-points", in: tag).first ?? "") ?? -1)
        }
    }

    /// The opening tags (without their `>`) of the elements carrying `data-series` in plot `id`,
    /// in document order, the `<svg>` itself left out.
    private func seriesTags(_ id: String) -> [String] {
        guard let svg = plot(id) else { return [] }
        var tags: [String] = []
        var rest = svg[...]
        while let range = rest.range(of: " data-series=\"") {
            let tagStart = rest[..<range.lowerBound].range(of: "<", options: .backwards)!.lowerBound
            let tagEnd = rest.range(of: ">", range: range.upperBound..<rest.endIndex)!.lowerBound
            let tag = String(rest[tagStart..<tagEnd])
            rest = rest[tagEnd...]
            if !tag.hasPrefix("<svg") { tags.append(tag) }
        }
        return tags
    }

    /// The value of `attribute` on the `<svg>` of plot `id`.
    func attribute(_ attribute: String, ofPlot id: String) -> String? {
        guard let svg = plot(id), let tagEnd = svg.firstIndex(of: ">") else { return nil }
        return Self.values(of: attribute, in: String(svg[..<tagEnd])).first
    }

    /// `data-value` of the summary cell `field` in the row of run `label`.
    func summaryValue(run label: String, field: String) -> Double? {
        guard let row = html.range(of: "<tr data-run=\"\(label)\"") else { return nil }
        let end = html.range(of: "</tr>", range: row.upperBound..<html.endIndex)!.lowerBound
        let rowText = String(html[row.upperBound..<end])
        guard let cell = rowText.range(of: "data-field=\"\(field)\"") else { return nil }
        let tagEnd = rowText.range(of: ">", range: cell.upperBound..<rowText.endIndex)!.lowerBound
        return Self.values(of: "data-value", in: String(rowText[cell.upperBound..<tagEnd])).first.flatMap(Double.init)
    }

    /// The text of the summary cell `field` in the row of run `label` (tags stripped).
    func summaryText(run label: String, field: String) -> String? {
        guard let row = html.range(of: "<tr data-run=\"\(label)\"") else { return nil }
        let end = html.range(of: "</tr>", range: row.upperBound..<html.endIndex)!.lowerBound
        let rowText = html[row.upperBound..<end]
        guard let cell = rowText.range(of: "data-field=\"\(field)\"") else { return nil }
        let open = rowText.range(of: ">", range: cell.upperBound..<rowText.endIndex)!.upperBound
        let close = rowText.range(of: "</td>", range: open..<rowText.endIndex)!.lowerBound
        return rowText[open..<close].replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
    }

    /// (label, y values from `data-values`) of each line (or bar layer) of plot `id`.
    func seriesValues(_ id: String) -> [(label: String, values: [Double])] {
        seriesTags(id).map { tag in
            (Self.values(of: "data-series", in: tag).first ?? "",
             (Self.values(of: "data-values", in: tag).first ?? "").split(separator: ",").compactMap { Double($0) })
        }
    }

    /// The `<table ...>` element (up to its `</table>`) with `data-table="id"`, or nil.
    func table(_ id: String) -> String? {
        guard let start = html.range(of: "data-table=\"\(id)\"") else { return nil }
        let open = html[..<start.lowerBound].range(of: "<table", options: .backwards)!.lowerBound
        let end = html.range(of: "</table>", range: start.upperBound..<html.endIndex)!.upperBound
        return String(html[open..<end])
    }

    /// `data-value` of every cell with `data-field="field"` in table `id`, top to bottom.
    func tableValues(_ id: String, field: String) -> [Double] {
        guard let table = table(id) else { return [] }
        var result: [Double] = []
        var rest = table[...]
        while let range = rest.range(of: "data-field=\"\(field)\"") {
            let tagEnd = rest.range(of: ">", range: range.upperBound..<rest.endIndex)!.lowerBound
            if let value = Self.values(of: "data-value", in: String(rest[range.upperBound..<tagEnd])).first.flatMap(Double.init) {
                result.append(value)
            }
            rest = rest[tagEnd...]
        }
        return result
    }

    static func values(of attribute: String, in text: String) -> [String] {
        var result: [String] = []
        var rest = text[...]
        while let range = rest.range(of: "\(attribute)=\"") {
            let close = rest.range(of: "\"", range: range.upperBound..<rest.endIndex)!.lowerBound
            result.append(String(rest[range.upperBound..<close]))
            rest = rest[close...]
        }
        return result
    }
}
