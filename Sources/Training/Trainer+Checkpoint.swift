import Datasets
import Distributed
import Foundation
import Mastery
import NN

/// Checkpoint contents beyond the model: optimizer state, tracker arrays indexed by
/// global id, the owner rank of every instance, and progress counters.
enum TrainerTensors {
    static let velocity = "optimizer.velocity"
    static let velocityInitialized = "optimizer.initialized"
    static let lastLoss = "tracker.last_loss"
    static let previousLoss = "tracker.previous_loss"
    static let lossCount = "tracker.loss_count"
    static let history = "tracker.history"
    static let historyCount = "tracker.history_count"
    static let mastered = "tracker.mastered"
    static let owner = "owner"
    /// [epochs completed, instances trained so far, seed (bit pattern)]; the shuffle of
    /// epoch e on rank r is seeded by (seed, e, r), so this is the whole RNG state.
    static let progress = "progress"
}

/// Where a resumed run starts.
struct ResumeState {
    var epoch: Int
    var trainedSoFar: Int
    var bestAccuracy: Double
    var bestEpoch: Int
}

extension Trainer {
    /// Rank 0 gathers the global state and writes `checkpoints/epoch-NNNN/`; every rank
    /// waits for it to be complete (a barrier), so that no rank runs ahead of a checkpoint.
    func writeCheckpoint(epoch: Int, trainedSoFar: Int, best: (accuracy: Double, epoch: Int), masteredPerRank: [Int]) throws {
        guard model.parameters.allFinite, optimizer.velocitySnapshot.allSatisfy(\.isFinite) else {
            throw TrainingError.diverged(epoch: epoch, step: 0)
        }
        let state = tracker.state()
        let ids = try communicator.gatherv(state.ids, root: 0)
        let lastLoss = try communicator.gatherv(state.lastLoss, root: 0)
        let previousLoss = try communicator.gatherv(state.previousLoss, root: 0)
        let lossCount = try communicator.gatherv(state.lossCount, root: 0)
        let history = try communicator.gatherv(state.history, root: 0)
        let historyCount = try communicator.gatherv(state.historyCount, root: 0)
        let mastered = try communicator.gatherv(state.mastered.map { UInt8($0 ? 1 : 0) }, root: 0)
        if let ids, let lastLoss, let previousLoss, let lossCount, let history, let historyCount, let mastered {
            let n = data.globalTrainCount, h = config.mastery.historyLength
            var global = (
                last: [Float](repeating: 0, count: n), previous: [Float](repeating: 0, count: n),
                lossCount: [UInt8](repeating: 0, count: n), history: [Float](repeating: 0, count: n * h),
                historyCount: [UInt8](repeating: 0, count: n), mastered: [UInt8](repeating: 0, count: n),
                owner: [Int32](repeating: -1, count: n))
            for rank in 0..<communicator.size {
                for (slot, id) in ids[rank].enumerated() {
                    let g = Int(id)
                    guard g >= 0, g < n, global.owner[g] == -1 else {
                        throw TrainingError.invalidConfiguration(
                            "instance \(id) is owned by more than one rank or out of range: refusing to checkpoint")
                    }
                    global.owner[g] = Int32(rank)
                    global.last[g] = lastLoss[rank][slot]
                    global.previous[g] = previousLoss[rank][slot]
                    global.lossCount[g] = lossCount[rank][slot]
                    global.historyCount[g] = historyCount[rank][slot]
                    global.mastered[g] = mastered[rank][slot]
                    for p in 0..<h { global.history[g * h + p] = history[rank][slot * h + p] }
                }
            }
            if let missing = global.owner.firstIndex(of: -1) {
                throw TrainingError.invalidConfiguration("instance \(missing) is owned by no rank: refusing to checkpoint")
            }
            let trainerFile = SafetensorsFile(tensors: [
                SafetensorsTensor(name: TrainerTensors.velocity, shape: [optimizer.count], floats: optimizer.velocitySnapshot),
                SafetensorsTensor(
                    name: TrainerTensors.velocityInitialized, dtype: .u8, shape: [1],
                    bytes: [optimizer.hasVelocity ? 1 : 0]),
                SafetensorsTensor(name: TrainerTensors.lastLoss, shape: [n], floats: global.last),
                SafetensorsTensor(name: TrainerTensors.previousLoss, shape: [n], floats: global.previous),
                SafetensorsTensor(name: TrainerTensors.lossCount, dtype: .u8, shape: [n], bytes: global.lossCount),
                SafetensorsTensor(name: TrainerTensors.history, shape: [n, h], floats: global.history),
                SafetensorsTensor(name: TrainerTensors.historyCount, dtype: .u8, shape: [n], bytes: global.historyCount),
                SafetensorsTensor(name: TrainerTensors.mastered, dtype: .u8, shape: [n], bytes: global.mastered),
                SafetensorsTensor(name: TrainerTensors.owner, shape: [n], int32s: global.owner),
                SafetensorsTensor(
                    name: TrainerTensors.progress, shape: [3],
                    int64s: [Int64(epoch), Int64(trainedSoFar), Int64(bitPattern: config.seed)]),
            ])
            let formatter = ISO8601DateFormatter()
            let meta = CheckpointMeta(
                epoch: epoch, worldSize: communicator.size, config: config, dataset: fingerprint,
                mastered: masteredPerRank.reduce(0, +), masteredPerRank: masteredPerRank, trainedSoFar: trainedSoFar,
                bestTestAccuracy: best.accuracy, bestEpoch: best.epoch, created: formatter.string(from: Date()))
            try CheckpointStore(runDirectory: config.runDirectory).write(
                files: [("model.safetensors", modelFile.encoded(model)), ("trainer.safetensors", trainerFile.encoded())],
                meta: meta, keep: config.keepCheckpoints)
        }
        try communicator.barrier()
        Trainer.faultInjectionAfterCheckpoint(epoch: epoch, rank: communicator.rank)
    }

    /// For the kill test only: `IES_TEST_KILL_RANK=r IES_TEST_KILL_AFTER_CHECKPOINT=e` makes
    /// rank r SIGKILL itself right after the checkpoint of epoch e is complete.
    static func faultInjectionAfterCheckpoint(epoch: Int, rank: Int) {
        let environment = ProcessInfo.processInfo.environment
        guard let killRank = environment["IES_TEST_KILL_RANK"].flatMap(Int.init), killRank == rank,
              let killEpoch = environment["IES_TEST_KILL_AFTER_CHECKPOINT"].flatMap(Int.init), killEpoch == epoch
        else { return }
        kill(getpid(), SIGKILL)
    }

    /// The owner rank of every instance for a resumed run: the checkpoint's table when the
    /// world size is unchanged, else a fresh plan (instances re-sharded by global id).
    static func owners(from checkpoint: LoadedCheckpoint, ranks: Int) throws -> [Int32]? {
        guard checkpoint.meta.worldSize == ranks else { return nil }
        guard let tensor = checkpoint.trainer[TrainerTensors.owner], tensor.dtype == .i32 else {
            throw TrainingError.io(path: checkpoint.directory, message: "trainer.safetensors lacks the owner table")
        }
        let owners = tensor.int32s
        guard owners.count == checkpoint.meta.dataset.trainCount, owners.allSatisfy({ $0 >= 0 && Int($0) < ranks }) else {
            throw TrainingError.io(path: checkpoint.directory, message: "owner table does not match \(ranks) ranks")
        }
        return owners
    }

    /// Loads parameters, optimizer and tracker state of this rank's instances.
    static func restore(
        _ checkpoint: LoadedCheckpoint, model: Sequential, optimizer: SGD, rule: MasteryRule, localIDs: [Int32]
    ) throws -> (MasteryTracker, ResumeState) {
        let path = checkpoint.directory
        func bad(_ message: String) -> TrainingError { .io(path: path, message: message) }
        try ModelFile.loadParameters(
            from: checkpoint.model, into: model.parameters,
            path: (path as NSString).appendingPathComponent("model.safetensors"))
        func tensor(_ name: String, _ dtype: SafetensorsDType, _ shape: [Int]) throws -> SafetensorsTensor {
            guard let t = checkpoint.trainer[name], t.dtype == dtype, t.shape == shape else {
                throw bad("trainer.safetensors: \(name) missing or not \(dtype.rawValue) \(shape)")
            }
            return t
        }
        let n = checkpoint.meta.dataset.trainCount, h = rule.historyLength
        let velocity = try tensor(TrainerTensors.velocity, .f32, [optimizer.count]).floats
        let initialized = try tensor(TrainerTensors.velocityInitialized, .u8, [1]).bytes[0] != 0
        optimizer.loadVelocity(velocity, initialized: initialized)
        let last = try tensor(TrainerTensors.lastLoss, .f32, [n]).floats
        let previous = try tensor(TrainerTensors.previousLoss, .f32, [n]).floats
        let lossCount = try tensor(TrainerTensors.lossCount, .u8, [n]).bytes
        let history = try tensor(TrainerTensors.history, .f32, [n, h]).floats
        let historyCount = try tensor(TrainerTensors.historyCount, .u8, [n]).bytes
        let mastered = try tensor(TrainerTensors.mastered, .u8, [n]).bytes
        let progress = try tensor(TrainerTensors.progress, .i64, [3]).int64s
        var localHistory: [Float] = []
        localHistory.reserveCapacity(localIDs.count * h)
        for id in localIDs {
            guard id >= 0, Int(id) < n else { throw bad("instance \(id) is outside the checkpoint's \(n) instances") }
            localHistory += history[(Int(id) * h)..<(Int(id) * h + h)]
        }
        let state = MasteryTracker.State(
            rule: rule, ids: localIDs, lastLoss: localIDs.map { last[Int($0)] },
            previousLoss: localIDs.map { previous[Int($0)] }, lossCount: localIDs.map { lossCount[Int($0)] },
            history: localHistory, historyCount: localIDs.map { historyCount[Int($0)] },
            mastered: localIDs.map { mastered[Int($0)] != 0 })
        let tracker = try MasteryTracker(state: state)
        let meta = checkpoint.meta
        return (
            tracker,
            ResumeState(
                epoch: Int(progress[0]), trainedSoFar: Int(progress[1]), bestAccuracy: meta.bestTestAccuracy,
                bestEpoch: meta.bestEpoch)
        )
    }
}
