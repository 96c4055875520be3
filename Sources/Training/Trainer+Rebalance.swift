import Datasets
import Distributed
import Foundation
import Mastery

/// What one rebalance did (all counts indexed by rank).
struct RebalanceReport {
    var unmasteredBefore: [Int]
    var unmasteredAfter: [Int]
    var masteredBefore: [Int]
    var masteredAfter: [Int]
    var moved = 0
    var bytes = 0
    var seconds = 0.0
}

extension Trainer {
    /// Evens out unmastered (then mastered) instances across ranks when max/mean exceeds
    /// 1 + tolerance. Every rank computes the same deterministic plan from the same
    /// allreduced counts (no separate broadcast needed), then senders ship the instances
    /// (id, label, image, tracker state) point to point. Afterwards each rank's instances
    /// are put back in ascending global id order, so that a resumed run, which shards by
    /// id, sees the same slots.
    func rebalance() throws -> RebalanceReport {
        let start = monotonicSeconds()
        let before = try gatherPerRank([Int64(tracker.count - tracker.masteredCount), Int64(tracker.masteredCount)])
        var report = RebalanceReport(
            unmasteredBefore: before.map { Int($0[0]) }, unmasteredAfter: before.map { Int($0[0]) },
            masteredBefore: before.map { Int($0[1]) }, masteredAfter: before.map { Int($0[1]) })
        guard config.rebalance, communicator.size > 1 else { return report }
        let limit = 1 + config.rebalanceTolerance
        for mastered in [false, true] {
            let counts = mastered ? report.masteredBefore : report.unmasteredBefore
            guard RebalancePlan.imbalance(counts) > limit else { continue }
            let plan = RebalancePlan(counts: counts)
            let (moved, bytes) = try execute(plan, mastered: mastered)
            report.moved += moved
            report.bytes += bytes
            if mastered { report.masteredAfter = plan.targets } else { report.unmasteredAfter = plan.targets }
        }
        if report.moved > 0 { try sortByGlobalID() }
        report.seconds = monotonicSeconds() - start
        return report
    }

    /// Carries out the moves of `plan` for the (un)mastered pool; returns instances and bytes moved (all ranks).
    private func execute(_ plan: RebalancePlan, mastered: Bool) throws -> (Int, Int) {
        let rank = communicator.rank
        var pool = tracker.slots(mastered: mastered).map(Int.init)  // candidates, taken from the end
        var outgoing: [Int] = []
        var incoming: [(state: MasteryTracker.State, images: [UInt8], labels: [Int32])] = []
        var bytes = 0
        for move in plan.moves {
            if move.from == rank {
                let chosen = Array(pool.suffix(move.count))
                pool.removeLast(move.count)
                outgoing += chosen
                let state = tracker.state(slots: chosen)
                try send(state, images: data.train.images(at: chosen), labels: chosen.map { data.train.labels[$0] }, to: move.to)
            }
            if move.to == rank {
                incoming.append(try receive(from: move.from))
            }
            bytes += move.count * (data.train.sampleSize + 4 + 4 + 4 * (2 + config.mastery.historyLength) + 3)
        }
        if !outgoing.isEmpty {
            tracker.remove(slots: outgoing)
            data.train.remove(positions: outgoing)
        }
        for parcel in incoming {
            try tracker.append(parcel.state)
            data.train.append(images: parcel.images, labels: parcel.labels, ids: parcel.state.ids)
        }
        return (plan.moved, bytes)
    }

    private enum Tag: Int, CaseIterable {
        case ids = 100, labels, images, lastLoss, previousLoss, lossCount, history, historyCount, mastered
    }

    private func send(_ state: MasteryTracker.State, images: [UInt8], labels: [Int32], to rank: Int) throws {
        try communicator.send(state.ids, to: rank, tag: Tag.ids.rawValue)
        try communicator.send(labels, to: rank, tag: Tag.labels.rawValue)
        try communicator.send(images, to: rank, tag: Tag.images.rawValue)
        try communicator.send(state.lastLoss, to: rank, tag: Tag.lastLoss.rawValue)
        try communicator.send(state.previousLoss, to: rank, tag: Tag.previousLoss.rawValue)
        try communicator.send(state.lossCount, to: rank, tag: Tag.lossCount.rawValue)
        try communicator.send(state.history, to: rank, tag: Tag.history.rawValue)
        try communicator.send(state.historyCount, to: rank, tag: Tag.historyCount.rawValue)
        try communicator.send(state.mastered.map { UInt8($0 ? 1 : 0) }, to: rank, tag: Tag.mastered.rawValue)
    }

    private func receive(from rank: Int) throws -> (state: MasteryTracker.State, images: [UInt8], labels: [Int32]) {
        let ids = try communicator.receive(Int32.self, from: rank, tag: Tag.ids.rawValue)
        let labels = try communicator.receive(Int32.self, from: rank, tag: Tag.labels.rawValue)
        let images = try communicator.receive(UInt8.self, from: rank, tag: Tag.images.rawValue)
        let state = MasteryTracker.State(
            rule: config.mastery, ids: ids,
            lastLoss: try communicator.receive(Float.self, from: rank, tag: Tag.lastLoss.rawValue),
            previousLoss: try communicator.receive(Float.self, from: rank, tag: Tag.previousLoss.rawValue),
            lossCount: try communicator.receive(UInt8.self, from: rank, tag: Tag.lossCount.rawValue),
            history: try communicator.receive(Float.self, from: rank, tag: Tag.history.rawValue),
            historyCount: try communicator.receive(UInt8.self, from: rank, tag: Tag.historyCount.rawValue),
            mastered: try communicator.receive(UInt8.self, from: rank, tag: Tag.mastered.rawValue).map { $0 != 0 })
        guard labels.count == ids.count, images.count == ids.count * data.train.sampleSize else {
            throw TrainingError.conservation("rank \(rank) sent \(ids.count) ids with \(labels.count) labels and \(images.count) image bytes")
        }
        return (state, images, labels)
    }

    /// For the conservation test only: `IES_TEST_DROP_INSTANCE_RANK=r IES_TEST_DROP_INSTANCE_EPOCH=e`
    /// makes rank r silently lose its last instance at epoch e, which the check must catch.
    static func faultInjectionBeforeConservationCheck(epoch: Int, rank: Int, data: inout Dataset) {
        let environment = ProcessInfo.processInfo.environment
        guard let dropRank = environment["IES_TEST_DROP_INSTANCE_RANK"].flatMap(Int.init), dropRank == rank,
              let dropEpoch = environment["IES_TEST_DROP_INSTANCE_EPOCH"].flatMap(Int.init), dropEpoch == epoch,
              data.count > 0
        else { return }
        data.remove(positions: [data.count - 1])
    }

    /// Puts local instances (data and tracker together) in ascending global id order.
    private func sortByGlobalID() throws {
        let ids = data.train.ids
        let order = (0..<ids.count).sorted { ids[$0] < ids[$1] }
        guard order != Array(0..<ids.count) else { return }
        data.train = data.train.subset(order)
        let state = tracker.remove(slots: order)
        try tracker.append(state)
    }

    /// Every global id owned exactly once: count, sum and xor of the owned ids, reduced over
    /// ranks, must equal those of the whole training split. Cheap enough for every epoch.
    func checkConservation(epoch: Int) throws {
        Trainer.faultInjectionBeforeConservationCheck(epoch: epoch, rank: communicator.rank, data: &data.train)
        var sums: [Int64] = [Int64(data.train.count), 0]
        var xor: [UInt64] = [0]
        for id in data.train.ids {
            sums[1] &+= Int64(id)
            xor[0] ^= UInt64(UInt32(bitPattern: id))
        }
        guard tracker.ids == data.train.ids else {
            throw TrainingError.conservation("rank \(communicator.rank): tracker and data slots disagree at epoch \(epoch)")
        }
        try sums.withUnsafeMutableBufferPointer { try communicator.allreduceSum($0) }
        try xor.withUnsafeMutableBufferPointer { try communicator.allreduceBitwiseXor($0) }
        let expected = data.globalIDTotals
        guard sums[0] == Int64(data.globalTrainCount), sums[1] == expected.sum, xor[0] == expected.xor else {
            throw TrainingError.conservation(
                "epoch \(epoch): ranks own \(sums[0]) instances (id sum \(sums[1]), xor \(xor[0])); expected "
                    + "\(data.globalTrainCount) (\(expected.sum), \(expected.xor)): an instance was lost or duplicated")
        }
    }
}
