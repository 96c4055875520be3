import Foundation

/// Colours safe for the common colour-vision deficiencies: the Okabe-Ito set for
/// categories (runs, ranks, time components) and viridis for the heat map.
public enum Palette {
    /// Okabe-Ito, ordered so that the first colours are the most distinct on white
    /// (yellow, the weakest on white, comes last).
    public static let categorical = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    /// Line dash patterns, varied with the colour so series differ without colour too.
    public static let dashes = ["", "7 4", "2 3", "10 3 2 3"]

    public static func color(_ index: Int) -> String { categorical[index % categorical.count] }
    public static func dash(_ index: Int) -> String { dashes[index % dashes.count] }

    /// The stacked-bar colour of each `EpochTimes.components` entry.
    public static let components = ["#0072B2", "#56B4E9", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#BBBBBB"]

    /// Viridis at 0, 1/9, ..., 1.
    static let viridis: [(Double, Double, Double)] = [
        (0x44, 0x01, 0x54), (0x48, 0x28, 0x78), (0x3E, 0x4A, 0x89), (0x31, 0x68, 0x8E), (0x26, 0x82, 0x8E),
        (0x1F, 0x9E, 0x89), (0x35, 0xB7, 0x79), (0x6D, 0xCD, 0x59), (0xB4, 0xDE, 0x2C), (0xFD, 0xE7, 0x25),
    ]

    /// Viridis at `t` in 0...1 as "#rrggbb".
    public static func viridis(_ t: Double) -> String {
        let x = min(max(t.isFinite ? t : 0, 0), 1) * Double(viridis.count - 1)
        let i = min(Int(x), viridis.count - 2)
        let f = x - Double(i)
        let (a, b) = (viridis[i], viridis[i + 1])
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02X%02X%02X", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// Text colour readable on viridis at `t` (white on the dark half).
    public static func textOnViridis(_ t: Double) -> String { t < 0.55 ? "#FFFFFF" : "#000000" }
}
