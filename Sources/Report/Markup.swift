import Foundation

/// Escaping for text placed into HTML or SVG (element content and quoted attributes).
enum Markup {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Rough rendered width of `text` at `fontSize`, for layout without a font engine.
    /// Deliberately generous (sans-serif averages about 0.55 em per character).
    static func textWidth(_ text: String, fontSize: Double) -> Double {
        Double(text.count) * fontSize * 0.62
    }
}
