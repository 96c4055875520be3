import Datasets
import Distributed
import Foundation
import Mastery
import NN
import RunFormat
import SafeTensors

/// Names of the tensors in `trainer.safetensors` besides the tracker's columns
/// (`tracker.<column>`, indexed by global id) and the optimizer's arrays (`optimizer.<name>`).
enum TrainerTensors {
    static let trackerPrefix = "tracker."
    static let optimizerPrefix = "optimizer."
    /// Optimizer steps taken (I64 [1]).
    static let optimizerSteps = "optimizer.steps"
    /// The rank owning each instance (I32 [N]).
    static let owner = "owner"
    /// [epochs completed, instances trained so far, seed (bit pattern)]; the shuffle of
    /// epoch e on rank r is seeded by (seed, e, r), so this is the whole RNG state.
    static let progress = "progress"
}

/// Where a resumed run starts.
package struct ResumeState {
    /// Epochs completed.
    var epoch: Int
    var progress: Trainer.RunProgress
    /// The checkpoint's copy of its epoch's metrics record.
    var lastMetrics: EpochMetrics?
    /// The pass of epoch `epoch + 1` to continue, for a mid-epoch checkpoint.
    var partialPass: PartialPass?
    /// What computed the checkpoint: the GEMM kernels and threads per rank (nil: not recorded).
    var gemm: String?
    var computeThreads: Int?
    /// The settings of the run that wrote it, and its number of ranks.
    var settings: TrainingConfig
    var worldSize: Int
}

extension Trainer {
    /// Rank 0 gathers every rank's tracker state (one packed message each), orders it by
    /// global id and writes `checkpoints/epoch-NNNN/`; every rank waits for it to be complete
    /// (a barrier), so that no rank runs ahead of a checkpoint.
    ///
    /// `epoch` is the number of epochs completed; `partial`, a pass of the next epoch
    /// interrupted between steps (a mid-epoch checkpoint, resumable on the same number of
    /// ranks). Returns the checkpoint directory (the same path on every rank).
    @discardableResult
    package func writeCheckpoint(
        epoch: Int, progress: RunProgress, metrics: EpochMetrics?, partial: PartialPass? = nil
    ) throws -> String {
        let optimizerState = optimizer.state
        guard model.parameters.allFinite, model.buffers.allFinite,
              optimizerState.arrays.values.allSatisfy({ $0.allSatisfy(\.isFinite) })
        else { throw TrainingError.diverged(epoch: epoch, step: 0) }
        let store = RunDirectory(config.runDirectory).checkpointStore
        let name = CheckpointStore.name(epoch: epoch, step: partial?.stepsDone ?? 0)
        let gathered = try communicator.gathered(tracker.state().packed(), root: 0)
        if let gathered {
            let states = try gathered.map { try MasteryTracker.State(packed: $0, rule: config.mastery) }
            let masteredPerRank = states.map { $0.mastered.filter { $0 }.count }
            let n = data.globalTrainCount
            let owner = try OwnerTable.build(idsByRank: states.map(\.ids), count: n)
            let tracker = try MasteryTracker.State.concatenating(states, rule: config.mastery).orderedByID()
            let trainerFile = SafetensorsFile(
                tensors: Trainer.tensors(of: optimizerState) + Trainer.tensors(of: tracker) + [
                    SafetensorsTensor(name: TrainerTensors.owner, shape: [n], int32s: owner),
                    SafetensorsTensor(
                        name: TrainerTensors.progress, shape: [3],
                        int64s: [Int64(epoch), Int64(progress.trainedSoFar), Int64(bitPattern: config.seed)]),
                ])
            var meta = TrainingCheckpointMeta(
                epoch: epoch, worldSize: communicator.size, config: config, dataset: fingerprint,
                mastered: masteredPerRank.reduce(0, +), masteredPerRank: masteredPerRank,
                trainedSoFar: progress.trainedSoFar, bestTestAccuracy: progress.bestAccuracy,
                bestEpoch: progress.bestEpoch, created: ISO8601DateFormatter().string(from: Date()), metrics: metrics,
                partialPass: partial)
            meta.gemm = BLAS.identity
            meta.computeThreads = model.compute.threads
            if let claim {
                try claim.verify(RunDirectory(config.runDirectory))
                meta.runID = claim.identity.id
            }
            try store.write(
                name: name,
                files: [
                    (LoadedCheckpoint.modelFile, modelFile.encoded(model)),
                    (LoadedCheckpoint.trainerFile, trainerFile.encoded()),
                ],
                meta: meta, keep: config.keepCheckpoints,
                belongs: { [claim] id in id == nil || claim?.identity.owns(checkpointRunID: id) ?? true })
        }
        try communicator.barrier()
        hooks.afterCheckpoint(epoch, communicator.rank)
        return store.path(name)
    }

    static func tensors(of state: OptimizerState) -> [SafetensorsTensor] {
        state.arrays.keys.sorted().map { name in
            SafetensorsTensor(
                name: TrainerTensors.optimizerPrefix + name, shape: [state.arrays[name]!.count], floats: state.arrays[name]!)
        } + [SafetensorsTensor(name: TrainerTensors.optimizerSteps, shape: [1], int64s: [Int64(state.steps)])]
    }

    /// The tracker's columns as tensors [N] or [N, width], row = global id.
    static func tensors(of state: MasteryTracker.State) -> [SafetensorsTensor] {
        state.columns.map { column in
            let name = TrainerTensors.trackerPrefix + column.name
            let shape = column.width == 1 ? [state.count] : [state.count, column.width]
            switch column.values {
            case .float32(let v): return SafetensorsTensor(name: name, shape: shape, floats: v)
            case .int32(let v): return SafetensorsTensor(name: name, shape: shape, int32s: v)
            case .uint8(let v): return SafetensorsTensor(name: name, dtype: .u8, shape: shape, bytes: v)
            }
        }
    }

    /// The owner rank of every instance for a resumed run: the checkpoint's table when the
    /// world size is unchanged, else nil (a fresh plan re-shards by global id).
    static func owners(from checkpoint: LoadedCheckpoint, ranks: Int) throws -> [Int32]? {
        guard checkpoint.meta.worldSize == ranks else { return nil }
        return try ownerTable(of: checkpoint)
    }

    /// Loads parameters, buffers, optimizer state and the tracker state of this rank's instances.
    package static func restore(
        _ checkpoint: LoadedCheckpoint, model: Model, optimizer: Optimizer, rule: MasteryRule,
        schedule: ProbeSchedule, localIDs: [Int32]
    ) throws -> (MasteryTracker, ResumeState) {
        let path = checkpoint.directory
        try ModelFile.load(
            checkpoint.model, into: model, path: (path as NSString).appendingPathComponent(LoadedCheckpoint.modelFile))
        var arrays: [String: [Float]] = [:]
        for tensor in checkpoint.trainer.tensors
        where tensor.name.hasPrefix(TrainerTensors.optimizerPrefix) && tensor.dtype == .f32 {
            arrays[String(tensor.name.dropFirst(TrainerTensors.optimizerPrefix.count))] = tensor.floats
        }
        let steps = try checkpoint.tensor(TrainerTensors.optimizerSteps, .i64, [1]).int64s[0]
        do {
            try optimizer.restore(OptimizerState(arrays: arrays, steps: Int(steps)))
        } catch {
            throw RunFormatError.invalidCheckpoint(
                path: (path as NSString).appendingPathComponent(LoadedCheckpoint.trainerFile), message: "\(error)")
        }

        let n = checkpoint.meta.dataset.trainCount
        let tracker: MasteryTracker
        do {
            let global = try Trainer.trackerState(of: checkpoint, rule: rule)
            guard localIDs.allSatisfy({ $0 >= 0 && Int($0) < n }) else {
                throw MasteryError.invalidState("instance ids outside the checkpoint's \(n) instances")
            }
            tracker = try MasteryTracker(state: global.rows(localIDs.map(Int.init)), schedule: schedule)
        } catch let error as MasteryError {
            throw RunFormatError.invalidCheckpoint(
                path: (path as NSString).appendingPathComponent(LoadedCheckpoint.trainerFile), message: "\(error)")
        }
        let progress = try checkpoint.tensor(TrainerTensors.progress, .i64, [3]).int64s
        let meta = checkpoint.meta
        return (
            tracker,
            ResumeState(
                epoch: Int(progress[0]),
                progress: RunProgress(
                    trainedSoFar: Int(progress[1]), bestAccuracy: meta.bestTestAccuracy, bestEpoch: meta.bestEpoch),
                lastMetrics: meta.metrics, partialPass: meta.partialPass, gemm: meta.gemm,
                computeThreads: meta.computeThreads, settings: meta.config, worldSize: meta.worldSize)
        )
    }
}

extension Trainer {
    /// The tracker state of every instance in a checkpoint, row = global id.
    public static func trackerState(of checkpoint: LoadedCheckpoint, rule: MasteryRule) throws -> MasteryTracker.State {
        let n = checkpoint.meta.dataset.trainCount
        let columns = try MasteryTracker.State(rule: rule, ids: []).columns.compactMap { layout -> MasteryTracker.State.Column? in
            let name = TrainerTensors.trackerPrefix + layout.name
            // A checkpoint from before the probe schedule lacks its columns: they take their defaults.
            if checkpoint.trainer[name] == nil && MasteryTracker.State.columnsWithDefaults.contains(layout.name) {
                return nil
            }
            let shape = layout.width == 1 ? [n] : [n, layout.width]
            let values: MasteryTracker.State.Column.Values
            switch layout.values {
            case .float32: values = .float32(try checkpoint.tensor(name, .f32, shape).floats)
            case .int32: values = .int32(try checkpoint.tensor(name, .i32, shape).int32s)
            case .uint8: values = .uint8(try checkpoint.tensor(name, .u8, shape).bytes)
            }
            return MasteryTracker.State.Column(name: layout.name, width: layout.width, values: values)
        }
        return try MasteryTracker.State(rule: rule, ids: (0..<Int32(n)).map { $0 }, columns: columns)
    }

    /// The owner rank of every instance in a checkpoint (index = global id), checked by
    /// `OwnerTable.problem` against the checkpoint's world size.
    public static func ownerTable(of checkpoint: LoadedCheckpoint) throws -> [Int32] {
        let owners = try checkpoint.tensor(TrainerTensors.owner, .i32, [checkpoint.meta.dataset.trainCount]).int32s
        if let problem = OwnerTable.problem(in: owners, ranks: checkpoint.meta.worldSize) {
            throw RunFormatError.invalidCheckpoint(
                path: (checkpoint.directory as NSString).appendingPathComponent(LoadedCheckpoint.trainerFile),
                message: "owner table of a \(checkpoint.meta.worldSize)-rank run: \(problem)")
        }
        return owners
    }
}

extension LoadedCheckpoint {
    /// The tensor `name` of trainer.safetensors, which must have `dtype` and `shape`.
    func tensor(_ name: String, _ dtype: SafetensorsDType, _ shape: [Int]) throws -> SafetensorsTensor {
        guard let tensor = trainer[name], tensor.dtype == dtype, tensor.shape == shape else {
            throw RunFormatError.invalidCheckpoint(
                path: (directory as NSString).appendingPathComponent(LoadedCheckpoint.trainerFile),
                message: "\(name) missing or not \(dtype.rawValue) \(shape)")
        }
        return tensor
    }
}

// MARK: - What a resumed run cannot keep exact

extension Trainer {
    /// Why this resumed run can differ from one that was never interrupted, though every
    /// change it makes is allowed: other threads per rank or GEMM kernels than the
    /// checkpoint's (sums round differently), settings the result depends on
    /// (`resultChangingEdits`), another global batch (a per-rank batch on other ranks).
    func resumeWarnings(_ state: ResumeState, threads: Int) -> [String] {
        var warnings: [String] = []
        let lastBits = "sums may round differently, so the result can differ in its last bits from a run that was not interrupted"
        if let before = state.computeThreads, before != threads {
            warnings.append(
                "the checkpoint was computed with \(before) thread(s) per rank, this run uses \(threads): \(lastBits) "
                    + "(--threads \(before) avoids it)")
        }
        if let before = state.gemm, before != BLAS.identity {
            warnings.append("the checkpoint was computed by GEMM \(before), this run uses \(BLAS.identity): \(lastBits)")
        }
        let changed = Self.resultChangingEdits(from: state.settings, to: config, ranks: communicator.size)
        if !changed.isEmpty {
            warnings.append(
                "resumed with " + changed.joined(separator: ", ")
                    + ": the result will differ from a run that had these settings from the start")
        }
        let (batchBefore, batchNow) = (config.globalBatch(ranks: state.worldSize), config.globalBatch(ranks: communicator.size))
        if batchBefore != batchNow {
            warnings.append(
                "the global batch is now \(batchNow), not \(batchBefore) (\(Setting.batchSizePerRank) "
                    + "\(config.batchSizePerRank ?? 0) on \(communicator.size) rank(s) instead of \(state.worldSize))"
                    + (config.lrScaling == .none
                        ? "" : ", and the learning rate scales with it (\(Setting.lrScaling) \(config.lrScaling.rawValue))"))
        }
        return warnings
    }

    /// The settings a resumed run may change although the result depends on them, as
    /// "--flag before -> now": rebalancing (which ranks train which instances, with several
    /// ranks) and, under a `linear` or `cosine` schedule, the epochs (every epoch's rate).
    static func resultChangingEdits(from before: TrainingConfig, to now: TrainingConfig, ranks: Int) -> [String] {
        func edit<Value: Equatable>(_ setting: Setting, _ path: KeyPath<TrainingConfig, Value>) -> String? {
            before[keyPath: path] == now[keyPath: path]
                ? nil : "\(setting) \(Setting.text(before[keyPath: path]) ?? "none") -> \(Setting.text(now[keyPath: path]) ?? "none")"
        }
        var edits: [String?] = []
        if ranks > 1 {
            edits.append(edit(.rebalance, \.rebalance))
            if before.rebalance && now.rebalance { edits.append(edit(.rebalanceTolerance, \.rebalanceTolerance)) }
        }
        if now.schedule.dependsOnRunLength { edits.append(edit(.epochs, \.epochs)) }
        return edits.compactMap { $0 }
    }
}
