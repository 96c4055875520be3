import Foundation
import Mastery
import XCTest

final class MasteryStateTests: XCTestCase {
    /// A deterministic loss per (instance id, epoch), independent of where the instance lives.
    /// id % 4: 0 constant, 1 noisy, 2 constant with a jump at epoch 9, 3 linear.
    static func loss(id: Int32, epoch: Int) -> Float {
        switch id % 4 {
        case 0: return 0.5 + Float(id % 64) / 1024
        case 1:
            var rng = SplitMix64(seed: UInt64(id) << 20 | UInt64(epoch))
            return Float.random(in: 0.2...0.8, using: &rng)
        case 2: return epoch < 9 ? 0.25 : 0.75
        default: return 2 - Float(epoch) / 16
        }
    }

    static func runEpoch(_ tracker: MasteryTracker, epoch: Int) -> MasteryCounts {
        for slot in (0..<tracker.count).reversed() {
            tracker.record(loss: loss(id: tracker.ids[slot], epoch: epoch), slot: slot)
        }
        return tracker.decide()
    }

    static func flagsByID(_ trackers: [MasteryTracker]) -> [Int32: Bool] {
        var result: [Int32: Bool] = [:]
        for tracker in trackers {
            for slot in 0..<tracker.count { result[tracker.ids[slot]] = tracker.isMastered(slot) }
        }
        return result
    }

    // MARK: - Round trip

    func testRoundTripAtEveryStageOfWarmUp() throws {
        let ids: [Int32] = (0..<60).map { Int32(($0 * 37) % 60) + 5 }
        for cut in [0, 1, 2, 3, 5, 6, 7, 10] {
            let original = MasteryTracker(rule: .defaults, ids: ids)
            for epoch in stride(from: 1, through: cut, by: 1) { _ = Self.runEpoch(original, epoch: epoch) }
            let state = original.state()
            XCTAssertEqual(state.ids, ids)
            XCTAssertEqual(state.count, ids.count)
            XCTAssertNoThrow(try state.validate())

            let restored = try MasteryTracker(state: state)
            let decoded = try MasteryTracker.State(packed: state.packed(), rule: .defaults)
            XCTAssertEqual(decoded, state, "packed round trip, cut \(cut)")
            let fromPacked = try MasteryTracker(state: decoded)

            for tracker in [restored, fromPacked] {
                XCTAssertEqual(tracker.rule, .defaults)
                XCTAssertEqual(tracker.ids, ids)
                XCTAssertEqual(tracker.flags, original.flags)
                XCTAssertEqual(tracker.state(), state)
            }
            var sawMastered = false
            for epoch in (cut + 1)...(cut + 10) {
                let expected = Self.runEpoch(original, epoch: epoch)
                XCTAssertEqual(Self.runEpoch(restored, epoch: epoch), expected, "cut \(cut) epoch \(epoch)")
                XCTAssertEqual(Self.runEpoch(fromPacked, epoch: epoch), expected, "cut \(cut) epoch \(epoch)")
                XCTAssertEqual(restored.flags, original.flags, "cut \(cut) epoch \(epoch)")
                XCTAssertEqual(fromPacked.flags, original.flags, "cut \(cut) epoch \(epoch)")
                // Constant instances (id % 4 == 0) master exactly at epoch 6, whatever the cut.
                for slot in 0..<ids.count where ids[slot] % 4 == 0 {
                    XCTAssertEqual(restored.isMastered(slot), epoch >= 6, "cut \(cut) epoch \(epoch) id \(ids[slot])")
                }
                sawMastered = sawMastered || restored.masteredCount > 0
            }
            XCTAssertTrue(sawMastered)
        }
    }

    func testEmptyState() throws {
        let empty = MasteryTracker(rule: .defaults, ids: [])
        let state = empty.state()
        XCTAssertEqual(state.count, 0)
        let restored = try MasteryTracker(state: state)
        XCTAssertEqual(restored.count, 0)
        XCTAssertEqual(restored.decide(), MasteryCounts())
    }

    // MARK: - Moving instances between trackers

    func testMovedInstancesKeepTheirHistories() throws {
        let rule = makeRule(2e-3, window: 2, k: 2)
        let idsA = (0..<40).map { Int32($0) }
        let idsB = (100..<120).map { Int32($0) }
        let a = MasteryTracker(rule: rule, ids: idsA), b = MasteryTracker(rule: rule, ids: idsB)
        let refA = MasteryTracker(rule: rule, ids: idsA), refB = MasteryTracker(rule: rule, ids: idsB)
        let all = [a, b, refA, refB]
        for epoch in 1...7 { for t in all { _ = Self.runEpoch(t, epoch: epoch) } }
        XCTAssertGreaterThan(a.masteredCount, 0)

        // Move six instances A -> B, in an unsorted slot order.
        let slots = [7, 3, 19, 0, 39, 22]
        let movedIDs = slots.map { idsA[$0] }
        let taken = a.state(slots: slots)
        XCTAssertEqual(taken.ids, movedIDs, "state(slots:) is in the order of slots")
        XCTAssertEqual(taken.mastered, slots.map { a.isMastered($0) })
        let removed = a.remove(slots: slots)
        XCTAssertEqual(removed, taken)
        XCTAssertEqual(a.ids, idsA.filter { !movedIDs.contains($0) }, "the rest keep their relative order")
        XCTAssertEqual(a.count, 34)
        try b.append(removed)
        XCTAssertEqual(b.ids, idsB + movedIDs, "appended at the end")
        XCTAssertEqual(Self.flagsByID([a, b]), Self.flagsByID([refA, refB]), "decisions survive the move")

        for epoch in 8...16 {
            if epoch == 11 {
                // Move two of the moved ones and one native of B back to A.
                let back = [Int32(19), 3, 110].map { id in b.ids.firstIndex(of: id)! }
                let state = b.remove(slots: back)
                XCTAssertEqual(Set(state.ids), [19, 3, 110])
                try a.append(state)
                XCTAssertEqual(a.count, 37)
                XCTAssertEqual(b.count, 23)
            }
            for t in all { _ = Self.runEpoch(t, epoch: epoch) }
            XCTAssertEqual(Self.flagsByID([a, b]), Self.flagsByID([refA, refB]), "epoch \(epoch)")
        }
        XCTAssertEqual(Set(a.ids).union(b.ids), Set(idsA + idsB))
        XCTAssertTrue(Set(a.ids).isDisjoint(with: b.ids))
        // The histories really differ between instances (not a trivially all-equal outcome).
        let final = Self.flagsByID([a, b])
        XCTAssertTrue(final.values.contains(true) && final.values.contains(false))
    }

    func testRemoveNothingAndEverything() throws {
        let t = MasteryTracker(rule: .defaults, ids: [1, 2, 3])
        for epoch in 1...6 { _ = Self.runEpoch(t, epoch: epoch) }
        let before = t.state()
        let none = t.remove(slots: [])
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(t.state(), before)
        let everything = t.remove(slots: [2, 0, 1])
        XCTAssertEqual(t.count, 0)
        XCTAssertEqual(Set(everything.ids), [1, 2, 3])
        try t.append(everything)
        XCTAssertEqual(t.count, 3)
        // Continue: the instance with id 1 (id % 4 == 1, noisy) and the others decide as if never removed.
        let ref = try MasteryTracker(state: before)
        for epoch in 7...10 {
            _ = Self.runEpoch(t, epoch: epoch)
            _ = Self.runEpoch(ref, epoch: epoch)
            XCTAssertEqual(Self.flagsByID([t]), Self.flagsByID([ref]))
        }
    }

    // MARK: - Invalid states

    func testAppendingADuplicateIDThrows() throws {
        let a = MasteryTracker(rule: .defaults, ids: [1, 2, 3])
        let b = MasteryTracker(rule: .defaults, ids: [3, 4])
        for epoch in 1...3 {
            _ = Self.runEpoch(a, epoch: epoch)
            _ = Self.runEpoch(b, epoch: epoch)
        }
        let before = a.state()
        XCTAssertThrowsError(try a.append(b.state(slots: [0]))) { error in
            guard case MasteryError.invalidState = error else { return XCTFail("got \(error)") }
        }
        XCTAssertThrowsError(try a.append(a.state(slots: [1])))
        XCTAssertEqual(a.state(), before, "a failed append changes nothing")
        XCTAssertNoThrow(try a.append(b.state(slots: [1])))
        XCTAssertEqual(a.ids, [1, 2, 3, 4])
    }

    func testStateWithDuplicateIDsIsInvalid() {
        var state = MasteryTracker(rule: .defaults, ids: [1, 2, 3]).state()
        state.ids[2] = 1
        assertInvalidState(state)
    }

    func testWrongArrayLengthsAreInvalid() {
        let tracker = MasteryTracker(rule: .defaults, ids: [10, 20, 30])
        for epoch in 1...7 { _ = Self.runEpoch(tracker, epoch: epoch) }
        let good = tracker.state()
        XCTAssertNoThrow(try good.validate())
        var states: [(String, MasteryTracker.State)] = []
        var s = good
        s.lastLoss.removeLast()
        states.append(("lastLoss", s))
        s = good
        s.previousLoss.append(0)
        states.append(("previousLoss", s))
        s = good
        s.recorded.removeLast()
        states.append(("recorded", s))
        s = good
        s.history.removeLast()
        states.append(("history short by one", s))
        s = good
        s.history += [0, 0, 0, 0]
        states.append(("history one instance too long", s))
        s = good
        s.historyCount.append(1)
        states.append(("historyCount", s))
        s = good
        s.mastered.removeLast()
        states.append(("mastered", s))
        s = good
        s.ids.removeLast()
        states.append(("ids", s))
        s = good
        s.recorded[0] = -1
        states.append(("recorded negative", s))
        s = good
        s.recorded[0] = 3
        states.append(("more d2 values than recorded losses allow", s))
        s = good
        s.masteredEpochs.removeLast()
        states.append(("masteredEpochs", s))
        s = good
        s.firstMastered.append(0)
        states.append(("firstMastered", s))
        s = good
        s.historyCount[1] = UInt8(good.rule.historyLength + 1)
        states.append(("historyCount out of range", s))
        for (what, state) in states { assertInvalidState(state, what) }
    }

    func testAppendingAStateWithADifferentRuleThrows() throws {
        let tracker = MasteryTracker(rule: .defaults, ids: [1, 2])
        let before = tracker.state()
        // Same history length (2 + 2 == 3 + 1), different rule.
        let sameLength = MasteryTracker(rule: makeRule(1e-3, window: 2, k: 2), ids: [5]).state()
        let otherThreshold = MasteryTracker(rule: makeRule(2e-3, window: 3, k: 1), ids: [6]).state()
        let longer = MasteryTracker(rule: makeRule(1e-3, window: 4, k: 1), ids: [7]).state()
        for state in [sameLength, otherThreshold, longer] {
            XCTAssertThrowsError(try tracker.append(state), "\(state.rule)") { error in
                guard case MasteryError.invalidState = error else { return XCTFail("got \(error)") }
            }
        }
        XCTAssertEqual(tracker.state(), before)
    }

    private func assertInvalidState(
        _ state: MasteryTracker.State, _ what: String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        func isInvalidState(_ error: Error) -> Bool {
            if case MasteryError.invalidState = error { return true }
            return false
        }
        XCTAssertThrowsError(try state.validate(), what, file: file, line: line) { error in
            XCTAssertTrue(isInvalidState(error), "\(what): validate threw \(error)", file: file, line: line)
        }
        XCTAssertThrowsError(try MasteryTracker(state: state), what, file: file, line: line) { error in
            XCTAssertTrue(isInvalidState(error), "\(what): init threw \(error)", file: file, line: line)
        }
        let other = MasteryTracker(rule: state.rule, ids: [999])
        XCTAssertThrowsError(try other.append(state), what, file: file, line: line) { error in
            XCTAssertTrue(isInvalidState(error), "\(what): append threw \(error)", file: file, line: line)
        }
        XCTAssertEqual(other.count, 1, what, file: file, line: line)
    }
}

/// The one encoding of a state: columns, packing, ordering and selection by global id.
final class MasteryStateEncodingTests: XCTestCase {
    /// A tracker in mid-run: some instances mastered, full and partial histories.
    private func midRun(ids: [Int32], epochs: Int = 8) -> MasteryTracker {
        let tracker = MasteryTracker(rule: .defaults, ids: ids)
        for epoch in 1...epochs { _ = MasteryStateTests.runEpoch(tracker, epoch: epoch) }
        return tracker
    }

    func testColumnsAreTheLayout() {
        let state = midRun(ids: [4, 9, 2]).state()
        XCTAssertEqual(
            state.columns.map(\.name),
            ["pending_loss", "last_loss", "previous_loss", "recorded", "history", "history_count", "mastered", "mastered_epochs",
             "first_mastered", "loss_gap", "epochs_since_loss", "probe_interval"])
        for column in state.columns { XCTAssertEqual(column.values.count, 3 * column.width, column.name) }
        XCTAssertEqual(state.columns.first { $0.name == "history" }?.width, MasteryRule.defaults.historyLength)
    }

    func testPackedRoundTripIsExact() throws {
        let state = midRun(ids: [40, 7, 13, 0, 22]).state()
        XCTAssertTrue(state.mastered.contains(true), "the fixture should hold mastered instances")
        XCTAssertEqual(try MasteryTracker.State(packed: state.packed(), rule: .defaults), state)
        let empty = MasteryTracker.State(rule: .defaults, ids: [])
        XCTAssertEqual(try MasteryTracker.State(packed: empty.packed(), rule: .defaults), empty)
    }

    func testPackedRejectsTruncatedAndTrailingBytes() {
        let packed = midRun(ids: [1, 2]).state().packed()
        XCTAssertThrowsError(try MasteryTracker.State(packed: Array(packed.dropLast()), rule: .defaults))
        XCTAssertThrowsError(try MasteryTracker.State(packed: packed + [0], rule: .defaults))
        XCTAssertThrowsError(try MasteryTracker.State(packed: [], rule: .defaults))
    }

    /// Gathered from several "ranks" in any order, ordered by id, then split again by id:
    /// every instance keeps its exact row.
    func testGatherOrderByIDAndSelectKeepRows() throws {
        let a = midRun(ids: [5, 0, 3]), b = midRun(ids: [1, 4, 2])
        let all = try MasteryTracker.State.concatenating([a.state(), b.state()], rule: .defaults)
        let ordered = try all.orderedByID()
        XCTAssertEqual(ordered.ids, [0, 1, 2, 3, 4, 5])
        for tracker in [a, b] {
            for (slot, id) in tracker.ids.enumerated() {
                XCTAssertEqual(ordered.rows([Int(id)]), tracker.state(slots: [slot]), "id \(id)")
            }
        }
        XCTAssertEqual(try ordered.selecting(ids: b.ids), b.state())
        XCTAssertThrowsError(try ordered.selecting(ids: [6]))
    }

    func testOrderedByIDRefusesMissingOrDuplicatedInstances() throws {
        let a = midRun(ids: [0, 2], epochs: 3)
        XCTAssertThrowsError(try a.state().orderedByID()) { error in
            XCTAssertTrue("\(error)".contains("missing or duplicated"), "\(error)")
        }
        // A duplicated id is refused when the ranks' states are put together.
        XCTAssertThrowsError(
            try MasteryTracker.State.concatenating([a.state(), a.state(slots: [0])], rule: .defaults).orderedByID())
    }

    /// What the instance listing reads: epochs mastered and the first epoch of mastery.
    func testMasteryBookkeepingColumns() {
        // id 0: constant loss (mastered after epoch 6 with the defaults); id 1: never mastered.
        let tracker = MasteryTracker(rule: .defaults, ids: [0, 1])
        for epoch in 1...9 {
            tracker.record(loss: 0.5, slot: 0)
            tracker.record(loss: epoch % 2 == 0 ? 1 : 0.25, slot: 1)
            tracker.decide()
        }
        let state = tracker.state()
        XCTAssertEqual(state.recorded, [9, 9])
        XCTAssertEqual(state.firstMastered, [6, 0])
        XCTAssertEqual(state.masteredEpochs, [4, 0])  // decided mastered after epochs 6, 7, 8 and 9
        XCTAssertEqual(tracker.movingAverageSum(slot: 0), 0)
        XCTAssertEqual(tracker.movingAverageSum(slot: 1)!, 1.5, accuracy: 1e-6)  // |d2| = 2 x 0.75 every epoch
        XCTAssertNil(MasteryTracker(rule: .defaults, ids: [3]).movingAverageSum(slot: 0))
    }
}
