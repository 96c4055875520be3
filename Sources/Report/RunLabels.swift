import Foundation

/// Short, distinct names for runs in legends: the last path component, or as many
/// trailing components as it takes to tell runs apart (`a/run` and `b/run`).
public enum RunLabels {
    public static func labels(for directories: [String]) -> [String] {
        let parts = directories.map { directory -> [String] in
            let standardized = (directory as NSString).standardizingPath
            let components = standardized.split(separator: "/").map(String.init)
            return components.isEmpty ? [standardized] : components
        }
        var labels = parts.map { $0.last ?? "" }
        let longest = parts.map(\.count).max() ?? 1
        var depth = 1
        while Set(labels).count < labels.count && depth < longest {
            depth += 1
            labels = parts.map { $0.suffix(depth).joined(separator: "/") }
        }
        // Identical directories given twice: number them.
        var seen: [String: Int] = [:]
        return labels.map { label in
            seen[label, default: 0] += 1
            return seen[label]! > 1 ? "\(label) (\(seen[label]!))" : label
        }
    }
}
