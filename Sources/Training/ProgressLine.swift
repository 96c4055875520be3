import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress display within an epoch, redrawn in place with `\r`;
/// silent unless stdout is a terminal (logs and pipes stay clean).
public final class ProgressLine {
    public let enabled: Bool
    private var lastDraw: Double = 0
    private var drawn = false

    public init(enabled: Bool) {
        self.enabled = enabled && isatty(STDOUT_FILENO) == 1
    }

    /// Redraws at most ten times a second.
    public func update(_ text: @autoclosure () -> String, now: Double) {
        guard enabled, now - lastDraw >= 0.1 else { return }
        lastDraw = now
        drawn = true
        FileHandle.standardOutput.write(Data(("\r\u{1B}[2K" + text()).utf8))
    }

    /// Clears the line so that the next regular output starts clean.
    public func clear() {
        guard enabled, drawn else { return }
        drawn = false
        FileHandle.standardOutput.write(Data("\r\u{1B}[2K".utf8))
    }

    /// "[=========>          ]" for a fraction in 0...1.
    public static func bar(_ fraction: Double, width: Int = 24) -> String {
        let filled = Int((fraction * Double(width)).rounded(.down))
        let head = filled < width ? ">" : ""
        return "[" + String(repeating: "=", count: max(0, filled)) + head
            + String(repeating: " ", count: max(0, width - filled - head.count)) + "]"
    }
}

/// A duration for people: "42s", "3m 05s", "2h 07m" (rounded to what those show).
public func formatDuration(_ seconds: Double) -> String {
    // Beyond about 31,000 years the Int conversions below would trap; no run lasts that long.
    guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "?" }
    let total = Int(seconds.rounded())
    if total < 60 { return "\(total)s" }
    if total < 3600 { return String(format: "%ldm %02lds", total / 60, total % 60) }
    let minutes = Int((seconds / 60).rounded())
    return String(format: "%ldh %02ldm", minutes / 60, minutes % 60)
}

/// Time left for `remaining` epochs, from the last few epochs' durations (which already
/// reflect the backpropagation IES saves, since mastered instances are only probed).
public func estimatedSeconds(remaining: Int, recentEpochSeconds: [Double]) -> Double? {
    let recent = recentEpochSeconds.suffix(3)
    guard remaining > 0, !recent.isEmpty else { return nil }
    return recent.reduce(0, +) / Double(recent.count) * Double(remaining)
}

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
