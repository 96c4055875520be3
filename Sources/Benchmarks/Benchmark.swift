import Datasets
import Foundation
import Mastery
import NN
import RunFormat
import Training

/// Throughput measurements for `ies bench`: training samples per second of the model
/// presets and OpenBLAS sgemm GFLOP/s, measured in the same process so that ratios
/// between them are meaningful on a noisy machine.
public enum Benchmark {
    /// Median of a non-empty list.
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Floating-point operations of one training step per sample: forward, plus backward
    /// (parameter gradients everywhere, input gradients after the first layer with parameters).
    public static func trainingFlopsPerSample(_ model: Model) -> Double {
        var total = 0.0, parametersBefore = false
        for layer in model.leaves {
            let cost = LayerCost(layer, batch: 1, inputGradient: parametersBefore)
            total += cost.forwardFlops + cost.backwardFlops
            parametersBefore = parametersBefore || !layer.parameterSpecs.isEmpty
        }
        return total
    }

    /// Median GFLOP/s of C[m,n] = A[m,k] B[k,n] over `repeats` timed runs of about `seconds` each.
    public static func sgemmGFLOPS(m: Int, n: Int, k: Int, threads: Int, repeats: Int, seconds: Double) -> Double {
        sgemmGFLOPS(LayerCost.GEMM(m: m, n: n, k: k), threads: threads, repeats: repeats, seconds: seconds)
    }

    /// Training throughput (forward + backward + SGD update, normalization included) of `preset`
    /// on synthetic images of shape `input` (C, H, W; 1x28x28 by default) with 10 classes:
    /// per-run samples/s over `repeats` runs. `stageWidth` sets the resnets' width.
    /// `beforeEachRun` runs before every timed run (outside its time): a reference measured
    /// beside each run, on a machine whose speed drifts between runs. `loops`, when given,
    /// records the parallel loops of the timed steps; `steps` counts those steps.
    public static func trainingThroughput(
        preset: ModelPreset, threads: Int, batchSize: Int, repeats: Int, seconds: Double, input: [Int] = [1, 28, 28],
        stageWidth: Int? = nil, beforeEachRun: () -> Void = {}, loops: LoopProfile? = nil
    ) throws -> (runs: [Double], flopsPerSample: Double, steps: Int) {
        let count = max(4096, 4 * batchSize), size = input.reduce(1, *)
        var generator = SeededGenerator(seed: 11)
        let images = (0..<(count * size)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let labels = (0..<count).map { _ in Int32(generator.below(10)) }
        let data = Dataset(
            images: images, labels: labels, ids: (0..<Int32(count)).map { $0 }, channels: input[0], height: input[1],
            width: input[2], classCount: 10)
        let model = try preset.build(
            channels: input[0], height: input[1], width: input[2], classes: 10, maxBatch: batchSize, seed: 1,
            compute: Compute(threads: threads), stageWidth: stageWidth)
        let optimizer = SGD(parameterCount: model.parameters.count, momentum: 0.9, weightDecay: 5e-4)
        let step = TrainingStep(model: model, optimizer: optimizer, normalization: Normalization(computedFrom: data))
        var order = Array(0..<count)
        generator.shuffle(&order)
        let steps = count / batchSize
        var cursor = 0
        func oneStep() {
            order.withUnsafeBufferPointer { all in
                step.accumulate(data, slots: UnsafeBufferPointer(rebasing: all[(cursor * batchSize)..<((cursor + 1) * batchSize)]))
            }
            step.apply(learningRate: 0.01)
            cursor = (cursor + 1) % steps
        }
        for _ in 0..<5 { oneStep() }
        var timedSteps = 0
        let runs = (0..<repeats).map { _ -> Double in
            beforeEachRun()
            let start = monotonicSeconds()
            var done = 0
            func run() {
                repeat {
                    oneStep()
                    done += batchSize
                    timedSteps += 1
                } while monotonicSeconds() - start < seconds
            }
            if let loops { loops.record(run) } else { run() }
            return Double(done) / (monotonicSeconds() - start)
        }
        return (runs, trainingFlopsPerSample(model), timedSteps)
    }
}

extension Benchmark {
    /// Milliseconds to record one loss for each of `instances` instances (in shuffled
    /// slot order, as the training pass does) and decide, per run, after the
    /// histories are full (`rule.historyLength + 2` warm-up epochs).
    public static func trackerMilliseconds(instances: Int, rule: MasteryRule, repeats: Int) -> (record: [Double], decide: [Double]) {
        let tracker = MasteryTracker(rule: rule, ids: (0..<Int32(instances)).map { $0 })
        var generator = SeededGenerator(seed: 5)
        var order = Array(0..<instances)
        generator.shuffle(&order)
        let losses = (0..<instances).map { _ in generator.uniform(0, 2) }
        var recordTimes: [Double] = [], decideTimes: [Double] = []
        for epoch in 0..<(rule.historyLength + 2 + repeats) {
            let start = monotonicSeconds()
            losses.withUnsafeBufferPointer { l in
                order.withUnsafeBufferPointer { o in tracker.record(losses: l, slots: o) }
            }
            let middle = monotonicSeconds()
            tracker.decide()
            let end = monotonicSeconds()
            if epoch >= rule.historyLength + 2 {
                recordTimes.append((middle - start) * 1000)
                decideTimes.append((end - middle) * 1000)
            }
        }
        return (recordTimes, decideTimes)
    }
}

extension Benchmark {
    /// Seconds to write (gather, encode, checksum, fsync, rename) and to read back
    /// (verify checksums, decode, restore model, optimizer and tracker) a checkpoint of
    /// `preset` with every training instance of `dataDirectory` tracked; per run.
    public static func checkpointSeconds(
        preset: ModelPreset, dataDirectory: String, repeats: Int, directory: String
    ) throws -> (write: [Double], read: [Double]) {
        var config = TrainingConfig(runDirectory: directory)
        config.model = preset
        config.dataDirectory = dataDirectory
        config.epochs = 1
        config.showProgress = false
        config.keepCheckpoints = 2
        let trainer = try Trainer(config: config)
        // Realistic tracker state: two epochs of losses recorded for every instance.
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<2 {
            for slot in 0..<trainer.tracker.count { trainer.tracker.record(loss: generator.uniform(0, 2), slot: slot) }
            trainer.tracker.decide()
        }
        var writes: [Double] = [], reads: [Double] = []
        for run in 0..<repeats {
            let start = monotonicSeconds()
            try trainer.writeCheckpoint(
                epoch: run + 1, progress: Trainer.RunProgress(), metrics: nil)
            writes.append(monotonicSeconds() - start)
            let readStart = monotonicSeconds()
            let loaded = try LoadedCheckpoint(
                directory: RunDirectory(directory).checkpointStore.path(CheckpointStore.name(epoch: run + 1)))
            _ = try Trainer.restore(
                loaded, model: trainer.model, optimizer: trainer.optimizer, rule: config.mastery, schedule: config.probe,
                localIDs: trainer.data.train.ids)
            reads.append(monotonicSeconds() - readStart)
        }
        return (writes, reads)
    }
}
