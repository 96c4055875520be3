import Foundation

/// Number formatting for the report, independent of the machine's locale so that a
/// report reads the same wherever it was made.
public enum NumberText {
    /// `value` with `decimals` digits after the point and "," between thousands.
    public static func grouped(_ value: Double, decimals: Int) -> String {
        var text = String(format: "%.\(decimals)f", value)
        if text.hasPrefix("-"), Double(text) == 0 { text.removeFirst() }
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        let parts = text.split(separator: ".", maxSplits: 1)
        var integer = String(parts[0])
        var groups: [String] = []
        while integer.count > 3 {
            groups.insert(String(integer.suffix(3)), at: 0)
            integer.removeLast(3)
        }
        groups.insert(integer, at: 0)
        let fractional = parts.count > 1 ? "." + parts[1] : ""
        return (negative ? "-" : "") + groups.joined(separator: ",") + fractional
    }

    /// A percentage of a 0...1 share: "79.63%".
    public static func percent(_ share: Double, decimals: Int = 2) -> String {
        String(format: "%.\(decimals)f%%", share * 100)
    }

    /// Signed percentage points: "+0.42 pp", "-1.10 pp".
    public static func points(_ value: Double) -> String {
        let text = String(format: "%+.2f pp", value)
        return text == "-0.00 pp" ? "+0.00 pp" : text
    }

    /// A duration: "0.84 s", "12.3 s", "4 min 05 s", "1 h 02 min".
    public static func duration(_ seconds: Double) -> String {
        // A metrics file may hold anything: NaN, infinite or absurd values would trap in Int().
        guard seconds.isFinite, seconds < 1e12 else { return seconds.isNaN ? "?" : String(format: "%.3g s", seconds) }
        if seconds < 10 { return String(format: "%.2f s", seconds) }
        if seconds < 100 { return String(format: "%.1f s", seconds) }
        let total = Int(seconds.rounded())
        if total < 3600 { return String(format: "%ld min %02ld s", total / 60, total % 60) }
        return String(format: "%ld h %02ld min", total / 3600, (total % 3600) / 60)
    }

    /// A compact number for SVG coordinates.
    static func coordinate(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.1f", rounded)
    }

    /// A value for tooltips: up to 4 significant digits.
    static func short(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return grouped(value, decimals: 0) }
        return String(format: "%.4g", value)
    }
}
