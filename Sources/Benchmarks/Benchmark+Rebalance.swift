import NN
import RunFormat
import Training

extension Benchmark {
    /// Milliseconds for every rank to compute the rebalance plan of `ranks` ranks holding
    /// `instances` instances unevenly (what each rank does once per epoch), per run.
    public static func rebalancePlanMilliseconds(ranks: Int, instances: Int, repeats: Int) -> [Double] {
        var generator = SeededGenerator(seed: 21)
        // Uneven shards: weights from 0.5 to 1.5, scaled to the total.
        let weights = (0..<ranks).map { _ in generator.uniform(0.5, 1.5) }
        let total = weights.reduce(0, +)
        var counts = weights.map { Int(Float(instances) * $0 / total) }
        counts[0] += instances - counts.reduce(0, +)
        return (0..<repeats).map { _ in
            let start = monotonicSeconds()
            let plan = RebalancePlan(counts: counts)
            let seconds = monotonicSeconds() - start
            precondition(plan.targets.reduce(0, +) == instances)
            return seconds * 1000
        }
    }
}
