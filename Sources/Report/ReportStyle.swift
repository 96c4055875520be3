import Foundation

/// The report's stylesheet. System fonts only (nothing is fetched); charts scale to
/// their column, two columns from about 1100 px wide, one below.
enum ReportStyle {
    static let css = """
        :root { color-scheme: light; }
        body { margin: 0; background: #FFFFFF; color: #1E1E1E;
          font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
          font-size: 15px; line-height: 1.45; }
        main { max-width: 1240px; margin: 0 auto; padding: 12px 20px 40px; }
        h1 { font-size: 26px; margin: 8px 0 4px; }
        h2 { font-size: 20px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #D0D0D0; }
        p.meta { margin: 0 0 6px; color: #444; }
        ul.runs { margin: 0; padding-left: 0; list-style: none; }
        ul.runs li { margin: 2px 0; }
        .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
        code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 18px 28px; }
        figure { margin: 0; }
        figure.wide { grid-column: 1 / -1; }
        figcaption { font-weight: 600; font-size: 15px; margin: 0 0 4px; }
        svg { display: block; width: 100%; height: auto; font-family: inherit; }
        .table-wrap { overflow-x: auto; }
        table.summary { border-collapse: collapse; font-size: 14px; }
        table.summary th, table.summary td { padding: 5px 7px; border-bottom: 1px solid #DDDDDD; text-align: left;
          vertical-align: top; white-space: nowrap; }
        table.summary th { white-space: normal; vertical-align: bottom; }
        table.summary span.sub { display: block; font-size: 12px; color: #555; }
        table.summary th { background: #F2F2F2; font-weight: 600; }
        table.summary th.number { text-align: right; }
        table.summary td.number { text-align: right; font-variant-numeric: tabular-nums; }
        table.summary td.label { font-weight: 600; }
        table.classes th[colspan] { text-align: center; }
        table.classes .split { border-left: 1px solid #BBBBBB; }
        p.note { color: #444; font-size: 14px; margin: 6px 0; }
        section > p.note + .grid { margin-top: 10px; }
        """
}
