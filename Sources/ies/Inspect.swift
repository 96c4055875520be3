import ArgumentParser
import Foundation
import Training

/// `ies inspect`: what a checkpoint holds, and whether its files match their checksums.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: epoch, world size, model, configuration, mastered counts, checksum status.")

    @Argument(help: "A checkpoint directory, a run's checkpoints/ directory, or a run directory (its newest valid checkpoint).")
    var path: String

    func run() throws {
        let (checkpoint, warnings) = try CheckpointStore.resolve(path)
        for warning in warnings { print("warning: \(warning)") }
        let meta = checkpoint.meta
        let config = meta.config
        print("checkpoint   \(checkpoint.directory)")
        print("format       \(meta.format), written \(meta.created)")
        print("epoch        \(meta.epoch) of \(config.epochs)")
        print("world size   \(meta.worldSize)")
        print("model        \(config.model.rawValue), \(checkpoint.model.tensors.count) tensors, "
            + "\(checkpoint.model.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }) parameters")
        print("data         \(config.dataDirectory)\(config.limit.map { " (first \($0))" } ?? ""): \(meta.dataset)")
        print("training     batch \(config.batchSize), lr \(config.learningRate) \(config.schedule), momentum "
            + "\(config.momentum), weight decay \(config.weightDecay), seed \(config.seed), shard by \(config.sharding.rawValue)")
        print("ies          \(config.mastery)")
        let n = meta.dataset.trainCount
        print(String(
            format: "mastered     %d of %d (%.1f%%), per rank %@", meta.mastered, n, 100 * Double(meta.mastered) / Double(max(1, n)),
            meta.masteredPerRank.map(String.init).joined(separator: ",")))
        print(String(
            format: "progress     %d instances trained, backprop saved %.1f%%, best test accuracy %.2f%% (epoch %d)",
            meta.trainedSoFar, 100 * (1 - Double(meta.trainedSoFar) / Double(max(1, n * meta.epoch))),
            meta.bestTestAccuracy * 100, meta.bestEpoch))
        for (name, sum) in meta.files.sorted(by: { $0.key < $1.key }) {
            print("checksum     \(name) sha256 \(sum): ok")
        }
    }
}
