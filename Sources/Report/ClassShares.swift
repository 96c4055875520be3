import Foundation
import RunFormat

/// A run's mastered share per class and epoch: `mastered_per_class` over the class sizes
/// of the last record that has `instances_per_class`, or the raw counts when the run did
/// not record sizes (older runs). The heat map and the many-class figures read this one
/// table, so they cannot disagree about what a class's value is.
struct ClassShares {
    /// The records that carry `mastered_per_class`, in epoch order.
    let records: [EpochMetrics]
    /// The largest class count of those records.
    let classes: Int
    /// Class sizes when recorded for every class, else nil (values are then counts).
    let sizes: [Int]?

    /// Nil when the run recorded no per-class counts at all.
    init?(_ run: TrainingRun) {
        let records = run.records.filter { !$0.masteredPerClass.isEmpty }
        guard !records.isEmpty else { return nil }
        self.records = records
        let classes = records.map(\.masteredPerClass.count).max() ?? 0
        let totals = run.records.last(where: { !$0.instancesPerClass.isEmpty })?.instancesPerClass
        self.classes = classes
        sizes = totals.flatMap { $0.count >= classes ? $0 : nil }
    }

    /// True: values are shares in 0...1; false: mastered counts.
    var isShare: Bool { sizes != nil }

    /// Mastered instances of class `k` after record `column`, nil when that record has no such class.
    func mastered(_ k: Int, _ column: Int) -> Int? {
        let counts = records[column].masteredPerClass
        return k < counts.count ? counts[k] : nil
    }

    /// The share (or count) of class `k` after record `column`; nil without data or for an empty class.
    func value(_ k: Int, _ column: Int) -> Double? {
        guard let mastered = mastered(k, column) else { return nil }
        guard let sizes else { return Double(mastered) }
        return sizes[k] > 0 ? Double(mastered) / Double(sizes[k]) : nil
    }

    /// The values of every class with one, after record `column`.
    func values(_ column: Int) -> [(k: Int, value: Double)] {
        (0..<classes).compactMap { k in value(k, column).map { (k, $0) } }
    }

    /// "112 of 303 mastered", or nil when sizes are not recorded.
    func detail(_ k: Int, _ column: Int) -> String? {
        guard let sizes, let mastered = mastered(k, column) else { return nil }
        return "\(mastered) of \(sizes[k]) mastered"
    }

    /// The `p`-quantile (0...1) of `values`, interpolating linearly between the closest
    /// ranks (numpy's default): for sorted v of n values, v[i] + (v[i+1] - v[i]) * f with
    /// i + f = p * (n - 1).
    static func quantile(_ values: [Double], _ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let position = p * Double(sorted.count - 1)
        let i = Int(position.rounded(.down)), f = position - Double(i)
        return i + 1 < sorted.count ? sorted[i] + (sorted[i + 1] - sorted[i]) * f : sorted[i]
    }

    /// Bucket edges of the last epoch's histogram: tenths of a share, or for counts ten
    /// (or fewer) equal integer ranges from 0 to the largest count.
    struct Buckets {
        /// Number of classes per bucket.
        var counts: [Int]
        /// "0–10", ..., "90–100" (percent), or "0–4", "5–9", ... (counts).
        var labels: [String]
    }

    /// Classes per bucket of their value after record `column`. A share s falls in bucket
    /// floor(10 s) (computed in integers: 10 m / n), a full class in the last one.
    func histogram(_ column: Int) -> Buckets {
        if let sizes {
            var counts = [Int](repeating: 0, count: 10)
            for k in 0..<classes where sizes[k] > 0 {
                guard let mastered = mastered(k, column) else { continue }
                counts[min(9, max(0, 10 * mastered / sizes[k]))] += 1
            }
            return Buckets(counts: counts, labels: (0..<10).map { "\($0 * 10)–\($0 * 10 + 10)" })
        }
        let largest = (0..<classes).compactMap { mastered($0, column) }.max() ?? 0
        let width = max(1, (largest + 1 + 9) / 10)
        let buckets = (largest + 1 + width - 1) / width
        var counts = [Int](repeating: 0, count: buckets)
        for k in 0..<classes {
            guard let mastered = mastered(k, column) else { continue }
            counts[min(buckets - 1, max(0, mastered / width))] += 1
        }
        let labels = (0..<buckets).map { width == 1 ? "\($0)" : "\($0 * width)–\($0 * width + width - 1)" }
        return Buckets(counts: counts, labels: labels)
    }

    /// The `n` classes with the highest (or lowest) value after record `column`; ties go
    /// to the lower class index.
    func extremes(_ column: Int, count n: Int, best: Bool) -> [(k: Int, value: Double)] {
        let sorted = values(column).sorted { a, b in
            a.value != b.value ? (best ? a.value > b.value : a.value < b.value) : a.k < b.k
        }
        return Array(sorted.prefix(n))
    }
}
