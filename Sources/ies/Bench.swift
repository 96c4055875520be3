import ArgumentParser
import Foundation
import Mastery
import NN
import Training

/// `ies bench`: training throughput of the presets and sgemm GFLOP/s, in one run.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training samples/s (forward + backward + update) and OpenBLAS sgemm GFLOP/s.")

    @Option(help: "Batch size of the training steps.")
    var batchSize = 64

    @Option(help: "Timed runs per configuration (the median is reported).")
    var repeats = 5

    @Option(help: "Seconds per timed run.")
    var seconds = 2.0

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @Option(parsing: .upToNextOption, help: "Models to measure.")
    var models: [ModelPreset] = [.mlp, .cnn]

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard threads.allSatisfy({ $0 > 0 }) else { throw ValidationError("--threads values must be positive") }
    }

    @Option(help: "Instances for the mastery-tracker measurement (0 skips it).")
    var trackerInstances = 1_280_000

    @Option(help: "Dataset for the checkpoint write/read measurement of the cnn ('' skips it).")
    var checkpointData = "/usr/share/datasets/fashion-mnist"

    func run() throws {
        if trackerInstances > 0 {
            let (record, decide) = Benchmark.trackerMilliseconds(
                instances: trackerInstances, rule: .defaults, repeats: repeats)
            let total = zip(record, decide).map { $0 + $1 }
            print(String(
                format: "tracker %d instances: record %.1f ms + decide %.1f ms = %.1f ms per epoch (median)",
                trackerInstances, Benchmark.median(record), Benchmark.median(decide), Benchmark.median(total)))
        }
        if trackerInstances > 0 {
            let plan = Benchmark.rebalancePlanMilliseconds(ranks: 1024, instances: trackerInstances, repeats: repeats)
            print(String(
                format: "rebalance plan for 1024 ranks, %d instances: %.3f ms (median, computed by every rank once per epoch)",
                trackerInstances, Benchmark.median(plan)))
        }
        if !checkpointData.isEmpty {
            let directory = NSTemporaryDirectory() + "ies-bench-checkpoint-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let (write, read) = try Benchmark.checkpointSeconds(
                preset: .cnn, dataDirectory: checkpointData, repeats: repeats, directory: directory)
            print(String(
                format: "checkpoint cnn, all instances of %@ tracked: write %.3f s, read %.3f s (median)",
                checkpointData, Benchmark.median(write), Benchmark.median(read)))
        }
        print("OpenBLAS core: \(BLAS.coreName); batch \(batchSize); median of \(repeats) runs of \(seconds) s")
        var sgemm: [Int: Double] = [:]
        for t in threads {
            sgemm[t] = Benchmark.sgemmGFLOPS(m: 1024, n: 1024, k: 1024, threads: t, repeats: repeats, seconds: seconds / 2)
            print(String(format: "sgemm 1024^3        threads %d  %8.1f GFLOP/s", t, sgemm[t]!))
        }
        for preset in models {
            for t in threads {
                let (runs, flops) = try Benchmark.trainingThroughput(
                    preset: preset, threads: t, batchSize: batchSize, repeats: repeats, seconds: seconds)
                let median = Benchmark.median(runs)
                let gflops = median * flops / 1e9
                print(String(
                    format: "train %@ threads %d  %9.0f samples/s (min %.0f, max %.0f)  %6.1f GFLOP/s = %.2f of sgemm",
                    preset.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0), t, median,
                    runs.min()!, runs.max()!, gflops, gflops / sgemm[t]!))
            }
        }
    }
}
