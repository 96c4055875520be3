import RunFormat
import Datasets
import Distributed
import NN

/// Result of one training pass on this rank (totals are global, reduced through the step buffer).
struct TrainPass {
    var trained: Int
    var totals: EvaluationTotals
    var seconds: Double
    var steps: Int
    var allreduceSeconds: Double
    /// Steps done; less than `steps` when the pass stopped early for a preemption.
    var stepsDone = 0
    /// A rank asked to stop (SIGTERM/SIGUSR1) during the pass; all ranks know it.
    var stopRequested = false

    var isComplete: Bool { stepsDone == steps }

    /// Where the pass stands, for a mid-epoch checkpoint.
    var partial: PartialPass {
        PartialPass(
            stepsDone: stepsDone, steps: steps, lossSum: totals.lossSum, count: totals.count, correct: totals.correct,
            seconds: seconds, allreduceSeconds: allreduceSeconds)
    }
}

extension Trainer {
    /// One pass over the shuffled local unmastered instances; records each one's loss
    /// (train mode, before its step's update) in the tracker. Continues `partial` when given
    /// (a mid-epoch checkpoint); stops after the step in which any rank asked to stop.
    func trainPass(epoch: Int, lr: Float, progress: ProgressLine, from partial: PartialPass? = nil) throws -> TrainPass {
        let train = data.train
        var order = tracker.slots(mastered: false)
        var generator = SeededGenerator(seed: config.seed, streams: UInt64(epoch), UInt64(communicator.rank))
        generator.shuffle(&order)
        // Every rank must issue the same collectives, so all agree on the step count:
        // S = ceil(unmastered over all ranks / B) for the global batch B (and, with a per-rank
        // batch, enough steps that no rank takes more than its capacity; rebalancing keeps
        // the pools even, so that is rare). Each rank spreads its own pool evenly
        // over those S steps (step s takes slots [s n / S, (s + 1) n / S) of its n), so
        // every step draws from every rank in proportion to what it still has to train:
        // a rank with a smaller pool takes fewer per step instead of running dry early and
        // leaving the last steps to the other ranks' data alone (with class sharding that
        // would train whole stretches of steps on a few classes). A rank with nothing
        // contributes zeros and count 0. Local batches never exceed B.
        let local = order.count
        let pools = try communicator.allgathered(Int64(local)).map(Int.init)
        let globalBatch = config.globalBatch(ranks: communicator.size)
        let capacity = config.localBatchCapacity(ranks: communicator.size)
        let steps = max(
            (pools.reduce(0, +) + globalBatch - 1) / globalBatch, (pools.max()! + capacity - 1) / capacity)
        let buffer = step.buffer
        var pass = TrainPass(trained: 0, totals: EvaluationTotals(), seconds: 0, steps: steps, allreduceSeconds: 0)
        if let partial {
            guard partial.steps == steps, partial.stepsDone <= steps else {
                throw TrainingError.resumeMismatch(
                    "the checkpoint stopped at step \(partial.stepsDone) of \(partial.steps); this epoch has \(steps) steps")
            }
            pass.stepsDone = partial.stepsDone
            pass.trained = local * partial.stepsDone / steps
            pass.totals = EvaluationTotals(lossSum: partial.lossSum, correct: partial.correct, count: partial.count)
            pass.allreduceSeconds = partial.allreduceSeconds
        }
        let start = monotonicSeconds() - (partial?.seconds ?? 0)
        communicator.activity = "epoch \(epoch + 1), training"
        try order.withUnsafeBufferPointer { all in
            for s in pass.stepsDone..<steps {
                let batch = UnsafeBufferPointer(rebasing: all[(local * s / steps)..<(local * (s + 1) / steps)])
                try step.accumulate(
                    train, slots: batch, epoch: epoch, stop: StopRequest.shared.isRequested, buckets: buckets)
                pass.trained += batch.count
                step.losses.withUnsafeBufferPointer {
                    self.tracker.record(losses: UnsafeBufferPointer(rebasing: $0[0..<batch.count]), slots: batch)
                }
                let reduceStart = monotonicSeconds()
                if let buckets {
                    try buckets.finish()
                } else {
                    try communicator.allreduce(buffer.all, .sum)
                }
                pass.allreduceSeconds += monotonicSeconds() - reduceStart
                // The global loss sum is identical on every rank, so all of them stop together.
                guard buffer.lossSum.isFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: s + 1) }
                pass.totals.lossSum += Double(buffer.lossSum)
                pass.totals.count += buffer.count
                pass.totals.correct += buffer.correct
                step.apply(learningRate: lr)
                pass.stepsDone = s + 1
                if buffer.stopRequests > 0 {
                    pass.stopRequested = true
                    break
                }
                let now = monotonicSeconds()
                progress.update(
                    String(
                        format: "epoch %ld/%ld %@ %ld/%ld  loss %.4f  %.0f samples/s  %@ elapsed, %@ left", epoch + 1,
                        config.epochs, ProgressLine.bar(Double(s + 1) / Double(max(1, steps))), s + 1, steps,
                        pass.totals.meanLoss, Double(pass.totals.count) / max(now - start, 1e-9),
                        formatDuration(now - start),
                        formatDuration((now - start) / Double(s + 1) * Double(steps - s - 1))),
                    now: now)
            }
        }
        progress.clear()
        guard model.parameters.allFinite else { throw TrainingError.diverged(epoch: epoch + 1, step: pass.stepsDone) }
        if steps == 0 {
            // No step carried the flag: agree on it with one small reduction.
            pass.stopRequested = try communicator.allreduced(StopRequest.shared.isRequested ? 1 : 0, .sum) > 0
        }
        pass.seconds = monotonicSeconds() - start
        return pass
    }

    /// Forward-only (eval mode) pass over the local mastered instances due for a probe this
    /// epoch (`ProbeSchedule`), recording their losses; each is seen as training would have
    /// seen it this epoch (same augmentation).
    func probePass(epoch: Int) -> (probed: Int, seconds: Double) {
        let start = monotonicSeconds()
        let mastered = tracker.probeSlots()
        guard !mastered.isEmpty else { return (0, 0) }
        let view = (step.augmentation, AugmentationKey(seed: config.seed, epoch: epoch))
        _ = evaluator.evaluate(data.train, slots: mastered, augmentation: view) { offset, losses in
            mastered.withUnsafeBufferPointer {
                self.tracker.record(
                    losses: losses, slots: UnsafeBufferPointer(rebasing: $0[offset..<(offset + losses.count)]))
            }
        }
        return (mastered.count, monotonicSeconds() - start)
    }

    /// Loss and accuracy over the whole test split: each rank evaluates its block, sums are reduced.
    func evaluateTest() throws -> EvaluationTotals {
        let local = evaluator.evaluate(data.test)
        var sums = [local.lossSum, Double(local.correct), Double(local.count)]
        try communicator.allreduce(&sums, .sum)
        return EvaluationTotals(lossSum: sums[0], correct: Int(sums[1]), count: Int(sums[2]))
    }
}
