/// Per-instance loss history and mastery decisions for the instances one rank holds.
///
/// State is struct-of-arrays indexed by a local *slot* (the instance's position in the
/// rank's dataset), with the global id beside it. Each epoch every instance in training and
/// every mastered instance due for a probe (`isDue`, by the `ProbeSchedule`) gets exactly one
/// loss through `record` (trained instances from the training pass, mastered ones from the
/// probe pass); `decide()` then folds the losses into the d2 histories and recomputes the
/// decisions of the instances that had one, in one sequential pass. A mastered instance
/// between probes stays mastered, and its history waits for its next probe.
///
/// ```swift
/// let tracker = MasteryTracker(rule: .defaults, ids: dataset.ids)
/// tracker.record(loss: 0.42, slot: 7)   // ... for every slot, every epoch
/// let counts = tracker.decide()         // tracker.isMastered(slot) for the next epoch
/// ```
public final class MasteryTracker {
    public let rule: MasteryRule
    public let schedule: ProbeSchedule
    /// Everything the tracker knows (see `State`), in slot order; `stored.pending` holds
    /// this epoch's losses recorded so far (NaN until recorded).
    internal var stored: State

    /// Global instance id of each slot.
    public var ids: [Int32] { stored.ids }
    public var count: Int { stored.count }

    /// A tracker with empty histories for the instances `ids` (slot i holds ids[i]).
    public init(rule: MasteryRule, schedule: ProbeSchedule = .every, ids: [Int32]) {
        self.rule = rule
        self.schedule = schedule
        stored = State(rule: rule, ids: ids)
    }

    /// Records this epoch's loss of the instance in `slot`.
    @inline(__always)
    public func record(loss: Float, slot: Int) {
        stored.pending[slot] = loss
    }

    /// Records `losses[i]` for `slots[i]`.
    public func record(losses: UnsafeBufferPointer<Float>, slots: UnsafeBufferPointer<Int>) {
        precondition(losses.count == slots.count)
        stored.pending.withUnsafeMutableBufferPointer { p in
            for i in 0..<slots.count { p[slots[i]] = losses[i] }
        }
    }

    /// Whether the instance in `slot` is mastered for the coming epoch.
    @inline(__always)
    public func isMastered(_ slot: Int) -> Bool { stored.mastered[slot] }

    /// Whether the instance in `slot`, mastered, is probed this epoch: in the
    /// `probeInterval`-th epoch after its last loss (every epoch for `ProbeSchedule.every`).
    @inline(__always)
    public func isDue(_ slot: Int) -> Bool { stored.epochsSinceLoss[slot] + 1 >= stored.probeInterval[slot] }

    /// Slots of mastered (`true`) or unmastered (`false`) instances, ascending.
    public func slots(mastered: Bool) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(count)
        for slot in 0..<count where stored.mastered[slot] == mastered { result.append(slot) }
        return result
    }

    /// Slots of the mastered instances probed this epoch, ascending.
    public func probeSlots() -> [Int] {
        var result: [Int] = []
        for slot in 0..<count where stored.mastered[slot] && isDue(slot) { result.append(slot) }
        return result
    }

    /// Mastered instances probed this epoch.
    public var probesDue: Int { probeSlots().count }

    /// Number of instances currently mastered.
    public var masteredCount: Int { stored.mastered.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Folds this epoch's losses into the histories and recomputes the decisions of the
    /// instances that had one; a mastered instance between probes stays mastered.
    ///
    /// Every instance in training and every mastered one due for a probe must have been
    /// recorded since the last call; a missing loss is a programming error and traps.
    ///
    /// The d2 of a loss is `MasteryRule.secondDifference` over the epochs between it and
    /// the two losses before it. After a probe that keeps an instance mastered its probe
    /// interval grows (`ProbeSchedule.interval(after:)`); an instance newly mastered is
    /// probed in the next epoch, and one back in training has a loss every epoch.
    @discardableResult
    public func decide() -> MasteryCounts {
        let rule = self.rule, h = rule.historyLength, schedule = self.schedule
        var counts = MasteryCounts()
        // Work on a local copy (moved out, so the arrays are not copied): several of its
        // arrays are accessed at once, which exclusivity allows on a local value only.
        var s = stored
        stored = State(rule: rule, ids: [])
        defer { stored = s }
        let ids = s.ids
        s.pending.withUnsafeMutableBufferPointer { pending in
        s.lastLoss.withUnsafeMutableBufferPointer { last in
        s.previousLoss.withUnsafeMutableBufferPointer { previous in
        s.recorded.withUnsafeMutableBufferPointer { recorded in
        s.history.withUnsafeMutableBufferPointer { history in
        s.historyCount.withUnsafeMutableBufferPointer { historyCount in
        s.mastered.withUnsafeMutableBufferPointer { mastered in
        s.masteredEpochs.withUnsafeMutableBufferPointer { masteredEpochs in
        s.firstMastered.withUnsafeMutableBufferPointer { firstMastered in
        s.lossGap.withUnsafeMutableBufferPointer { lossGap in
        s.epochsSinceLoss.withUnsafeMutableBufferPointer { epochsSinceLoss in
        s.probeInterval.withUnsafeMutableBufferPointer { probeInterval in
            for slot in 0..<pending.count {
                let loss = pending[slot]
                if loss.isNaN && mastered[slot] && epochsSinceLoss[slot] + 1 < probeInterval[slot] {
                    // Between probes: no loss, the decision stands.
                    epochsSinceLoss[slot] += 1
                    counts.mastered += 1
                    masteredEpochs[slot] += 1
                    continue
                }
                precondition(
                    !loss.isNaN, "MasteryTracker.decide: slot \(slot) (id \(ids[slot])) has no loss this epoch (or a NaN loss)")
                pending[slot] = .nan
                let gap = epochsSinceLoss[slot] + 1
                let row = history.baseAddress! + slot * h
                if recorded[slot] >= 2 {
                    let d2 = MasteryRule.secondDifference(
                        loss: loss, last: last[slot], previous: previous[slot], gapBefore: lossGap[slot], gap: gap)
                    for p in 0..<(h - 1) { row[p] = row[p + 1] }
                    row[h - 1] = d2
                    if historyCount[slot] < UInt8(h) { historyCount[slot] += 1 }
                }
                recorded[slot] &+= 1
                previous[slot] = last[slot]
                last[slot] = loss
                lossGap[slot] = gap
                epochsSinceLoss[slot] = 0
                let now = historyCount[slot] == UInt8(h) && rule.isMastered(history: row)
                if now {
                    counts.mastered += 1
                    masteredEpochs[slot] += 1
                    if firstMastered[slot] == 0 { firstMastered[slot] = recorded[slot] }
                }
                if mastered[slot] && !now { counts.returned += 1 }
                if !mastered[slot] && now { counts.newlyMastered += 1 }
                probeInterval[slot] = now && mastered[slot] ? schedule.interval(after: probeInterval[slot]) : 1
                mastered[slot] = now
            }
        }}}}}}}}}}}}
        return counts
    }

    /// The sum of the last `k` moving averages of |d2| of the instance in `slot` (what the
    /// rule compares with the threshold), or nil while its history is not full.
    public func movingAverageSum(slot: Int) -> Float? { stored.movingAverageSum(slot) }
}

/// What one `decide()` changed.
public struct MasteryCounts: Sendable, Equatable {
    /// Instances mastered for the coming epoch.
    public var mastered = 0
    /// Instances that were mastered and now are not (their loss moved again).
    public var returned = 0
    /// Instances that were not mastered and now are.
    public var newlyMastered = 0
    public init(mastered: Int = 0, returned: Int = 0, newlyMastered: Int = 0) {
        self.mastered = mastered
        self.returned = returned
        self.newlyMastered = newlyMastered
    }
}
