import ArgumentParser
import Datasets
import DurableIO
import Foundation
import RunFormat
import Training

/// `ies inspect`: what a checkpoint holds, and whether its files match their checksums.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: epoch, world size, model, configuration, mastered counts, checksum status.")

    @Argument(help: "A checkpoint directory, a run's checkpoints/ directory, or a run directory (its newest valid checkpoint).")
    var path: String

    @Option(help: ArgumentHelp(
        "Also write one CSV row per training instance of the newest checkpoint: global id, label, owner rank, mastered now, epochs spent mastered, first epoch mastered, last loss, last moving average of |d2|.",
        valueName: "file.csv"))
    var instances: String?

    func run() throws {
        let run = RunDirectory(path)
        let metricsPath = run.metrics
        if FileManager.default.fileExists(atPath: metricsPath), run.checkpointStore.checkpointNames().isEmpty {
            try describeFromMetrics(metricsPath)
            if instances != nil { throw ValidationError("\(path) has no checkpoint yet: there is no instance state to list") }
            return
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path),
           !entries.contains(where: { ["metrics.jsonl", "checkpoints", "meta.json", "latest"].contains($0) || $0.hasPrefix("epoch-") })
        {
            throw NoRun(path: path)
        }
        let (checkpoint, warnings) = try LoadedCheckpoint.newestValid(in: path)
        for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let meta = checkpoint.meta
        let config = meta.config
        print("checkpoint   \(checkpoint.directory)")
        print("format       \(meta.format), written \(meta.created)")
        if let runID = meta.runID { print("run id       \(runID)") }
        print("epoch        \(meta.epoch) of \(config.epochs)")
        print("world size   \(meta.worldSize)" + (meta.computeThreads.map { ", \($0) thread(s) per rank" } ?? ""))
        if let gemm = meta.gemm { print("computed by  \(gemm)") }
        print("model        \(config.model.rawValue), \(checkpoint.model.tensors.count) tensors, "
            + "\(checkpoint.model.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }) parameters")
        print("data         \(config.dataDirectory)\(config.limit.map { " (first \($0))" } ?? ""): \(meta.dataset)")
        print("training     batch \(config.batchSize), lr \(config.learningRate) \(config.schedule), momentum "
            + "\(config.momentum), weight decay \(config.weightDecay), seed \(config.seed), shard by \(config.sharding.rawValue)")
        print("ies          \(config.mastery)")
        let n = meta.dataset.trainCount
        print(String(
            format: "mastered     %ld of %ld (%.1f%%), per rank %@", meta.mastered, n, 100 * Double(meta.mastered) / Double(max(1, n)),
            meta.masteredPerRank.map(String.init).joined(separator: ",")))
        print(String(
            format: "progress     %ld instances trained, backprop saved %.1f%%, best test accuracy %.2f%% (epoch %ld)",
            meta.trainedSoFar, 100 * (1 - Double(meta.trainedSoFar) / Double(max(1, n * meta.epoch))),
            meta.bestTestAccuracy * 100, meta.bestEpoch))
        for (name, sum) in meta.files.sorted(by: { $0.key < $1.key }) {
            print("checksum     \(name) sha256 \(sum): ok")
        }
        if meta.format >= 3 { print("checksum     \(CheckpointStore.metaFile): ok (\(CheckpointStore.checksumsFile))") }
        if let instances {
            let labels = try DatasetLoader.load(
                directory: config.dataDirectory, limit: config.limit, npyLayout: config.npyLayout).train.labels
            let listing = try InstanceListing(checkpoint: checkpoint, labels: labels)
            try DurableFile.write(Array(listing.csv.utf8), to: instances)
            print("instances    \(listing.rows.count) rows written to \(instances)")
        }
    }

    /// A run without a checkpoint yet (early in its first epoch, or --checkpoint-every 0):
    /// what its metrics say.
    private func describeFromMetrics(_ metricsPath: String) throws {
        let epochs = try MetricsFile(path: metricsPath).records
        print("run          \(path) (no checkpoint yet: the summary comes from metrics.jsonl)")
        guard let last = epochs.last else {
            print("progress     no epoch finished yet")
            return
        }
        let best = epochs.max { $0.testAccuracy < $1.testAccuracy }!
        print("epochs       \(last.epoch) finished, \(String(format: "%.1f", epochs.map(\.seconds).reduce(0, +))) s")
        print("world size   \(last.worldSize)")
        print(String(
            format: "accuracy     last %.2f%%, best %.2f%% (epoch %ld); test loss %.4f",
            last.testAccuracy * 100, best.testAccuracy * 100, best.epoch, last.testLoss))
        print(String(
            format: "ies          %ld mastered after epoch %ld, backprop saved %.1f%% so far",
            last.mastered, last.epoch, last.backpropSaved * 100))
    }
}

/// A directory that is neither a run, its checkpoints/ directory, nor a checkpoint.
private struct NoRun: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) holds no run: no metrics.jsonl and no checkpoints" }
}
