/// Serialization and instance moves: a tracker's state as plain arrays, so that a
/// checkpoint can store it by global id and a rebalance can send part of it to
/// another rank. States are taken between epochs (after `decide()`).
extension MasteryTracker {
    /// The tracker state of some instances, struct-of-arrays in slot order.
    public struct State: Sendable, Equatable, Codable {
        public var rule: MasteryRule
        public var ids: [Int32]
        public var lastLoss: [Float]
        public var previousLoss: [Float]
        public var lossCount: [UInt8]
        /// `ids.count * rule.historyLength` d2 values, oldest first per instance.
        public var history: [Float]
        public var historyCount: [UInt8]
        public var mastered: [Bool]

        public var count: Int { ids.count }

        public init(
            rule: MasteryRule, ids: [Int32], lastLoss: [Float], previousLoss: [Float], lossCount: [UInt8],
            history: [Float], historyCount: [UInt8], mastered: [Bool]
        ) {
            self.rule = rule
            self.ids = ids
            self.lastLoss = lastLoss
            self.previousLoss = previousLoss
            self.lossCount = lossCount
            self.history = history
            self.historyCount = historyCount
            self.mastered = mastered
        }

        /// Checks lengths and ranges; the message says which array is off.
        public func validate() throws {
            let n = ids.count, h = rule.historyLength
            func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
                if !ok { throw MasteryError.invalidState(message()) }
            }
            try check(lastLoss.count == n, "lastLoss has \(lastLoss.count) values for \(n) instances")
            try check(previousLoss.count == n, "previousLoss has \(previousLoss.count) values for \(n) instances")
            try check(lossCount.count == n, "lossCount has \(lossCount.count) values for \(n) instances")
            try check(historyCount.count == n, "historyCount has \(historyCount.count) values for \(n) instances")
            try check(mastered.count == n, "mastered has \(mastered.count) values for \(n) instances")
            try check(history.count == n * h, "history has \(history.count) values, expected \(n) x \(h)")
            try check(lossCount.allSatisfy { $0 <= 2 }, "lossCount values must be 0...2")
            try check(historyCount.allSatisfy { Int($0) <= h }, "historyCount values must be 0...\(h)")
            try check(Set(ids).count == n, "ids contain duplicates")
        }
    }

    /// The state of all instances.
    public func state() -> State { state(slots: Array(0..<count)) }

    /// The state of the instances in `slots`, in that order.
    public func state(slots: [Int]) -> State {
        let h = rule.historyLength
        var history: [Float] = []
        history.reserveCapacity(slots.count * h)
        for slot in slots { history.append(contentsOf: self.history[(slot * h)..<((slot + 1) * h)]) }
        return State(
            rule: rule, ids: slots.map { ids[$0] }, lastLoss: slots.map { lastLoss[$0] },
            previousLoss: slots.map { previousLoss[$0] }, lossCount: slots.map { lossCount[$0] },
            history: history, historyCount: slots.map { historyCount[$0] }, mastered: slots.map { masteredFlags[$0] })
    }

    /// A tracker holding `state` (validated).
    public convenience init(state: State) throws {
        try state.validate()
        self.init(rule: state.rule, ids: [])
        try append(state)
    }

    /// Adds instances with their history at the end (new slots count..<count + state.count).
    public func append(_ state: State) throws {
        try state.validate()
        guard state.rule == rule else {
            throw MasteryError.invalidState("rule \(state.rule) differs from the tracker's \(rule)")
        }
        let existing = Set(ids)
        if let clash = state.ids.first(where: { existing.contains($0) }) {
            throw MasteryError.invalidState("instance \(clash) is already tracked")
        }
        ids += state.ids
        pending += Array(repeating: .nan, count: state.count)
        lastLoss += state.lastLoss
        previousLoss += state.previousLoss
        lossCount += state.lossCount
        history += state.history
        historyCount += state.historyCount
        masteredFlags += state.mastered
    }

    /// Removes the instances in `slots` and returns their state; the remaining
    /// instances keep their relative order (slots shift down).
    @discardableResult
    public func remove(slots: [Int]) -> State {
        let removed = state(slots: slots)
        var drop = [Bool](repeating: false, count: count)
        for slot in slots { drop[slot] = true }
        let keep = (0..<count).filter { !drop[$0] }
        let kept = state(slots: keep)
        let keptPending = keep.map { pending[$0] }
        ids = kept.ids
        pending = keptPending
        lastLoss = kept.lastLoss
        previousLoss = kept.previousLoss
        lossCount = kept.lossCount
        history = kept.history
        historyCount = kept.historyCount
        masteredFlags = kept.mastered
        return removed
    }
}
