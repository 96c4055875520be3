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
    /// Mastered instances due for a probe in the next epoch.
    var probesBefore: [Int]
    var probesAfter: [Int]
    var moved = 0
    var bytes = 0
    var seconds = 0.0
}

/// Instances moving between ranks, as ONE message: their tracker state, labels and images.
struct InstanceParcel {
    var state: MasteryTracker.State
    var labels: [Int32]
    var images: [UInt8]

    /// [state bytes (UInt64)] [packed state] [labels, Int32 each] [images].
    func encoded() -> [UInt8] {
        let packed = state.packed()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + packed.count + 4 * labels.count + images.count)
        withUnsafeBytes(of: UInt64(packed.count).littleEndian) { bytes += $0 }
        bytes += packed
        for label in labels { withUnsafeBytes(of: label.littleEndian) { bytes += $0 } }
        bytes += images
        return bytes
    }

    /// Reads what `encoded()` wrote for samples of `sampleSize` bytes; `source` names the sender in errors.
    init(decoding bytes: [UInt8], rule: MasteryRule, sampleSize: Int, source: Int) throws {
        func broken(_ what: String) -> TrainingError {
            .malformedMessage(source: source, bytes: bytes.count, problem: what)
        }
        guard bytes.count >= 8 else { throw broken("no header") }
        let stateBytes = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard stateBytes <= bytes.count - 8 else { throw broken("state length \(stateBytes)") }
        state = try MasteryTracker.State(packed: Array(bytes[8..<(8 + stateBytes)]), rule: rule)
        let n = state.count, labelStart = 8 + stateBytes
        guard bytes.count == labelStart + 4 * n + n * sampleSize else { throw broken("\(n) instances expected") }
        labels = bytes.withUnsafeBytes { raw in
            (0..<n).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: labelStart + 4 * $0, as: Int32.self)) }
        }
        images = Array(bytes[(labelStart + 4 * n)...])
    }

    /// The size of `encoded()` for `count` instances (every rank can compute it for every move).
    static func encodedSize(count: Int, rule: MasteryRule, sampleSize: Int) -> Int {
        let header = MasteryTracker.State(rule: rule, ids: []).packed().count
        let perInstance = MasteryTracker.State(rule: rule, ids: [0]).packed().count - header
        return 8 + header + count * (perInstance + 4 + sampleSize)
    }

    init(state: MasteryTracker.State, labels: [Int32], images: [UInt8]) {
        self.state = state
        self.labels = labels
        self.images = images
    }
}

extension Trainer {
    /// Evens out the next epoch's work across ranks (`WorkloadPlan`): the unmastered
    /// instances (trained), then the mastered ones due for a probe, each pool when its
    /// max/mean exceeds 1 + tolerance. Mastered instances between probes cost nothing next
    /// epoch and stay where they are. Every rank computes the same deterministic plan from the
    /// same gathered counts (no broadcast needed), then senders ship each batch of instances
    /// as one parcel, point to point. Afterwards each rank's instances are put back in
    /// ascending global id order, so that a resumed run, which shards by id, sees the same slots.
    func rebalance(_ ranks: [RankStatistics]) throws -> RebalanceReport {
        let start = monotonicSeconds()
        var report = RebalanceReport(
            unmasteredBefore: ranks.map(\.unmastered), unmasteredAfter: ranks.map(\.unmastered),
            masteredBefore: ranks.map(\.mastered), masteredAfter: ranks.map(\.mastered),
            probesBefore: ranks.map(\.probesDue), probesAfter: ranks.map(\.probesDue))
        guard config.rebalance, communicator.size > 1 else { return report }
        let plan = WorkloadPlan(
            unmastered: report.unmasteredBefore, probesDue: report.probesBefore, tolerance: config.rebalanceTolerance)
        if let training = plan.training {
            report.bytes += try execute(training, pool: tracker.slots(mastered: false))
            report.moved += training.moved
            report.unmasteredAfter = training.targets
        }
        if let probes = plan.probes {
            report.bytes += try execute(probes, pool: tracker.probeSlots())
            report.moved += probes.moved
            report.probesAfter = probes.targets
            report.masteredAfter = (0..<ranks.count).map {
                report.masteredBefore[$0] + probes.targets[$0] - report.probesBefore[$0]
            }
        }
        if report.moved > 0 { sortByGlobalID() }
        report.seconds = monotonicSeconds() - start
        return report
    }

    private static let parcelTag = 100

    /// Carries out the moves of `plan`, sending instances from `pool` (this rank's slots of
    /// the pool the plan balances, ascending); returns the bytes all ranks sent.
    private func execute(_ plan: RebalancePlan, pool: [Int]) throws -> Int {
        let rank = communicator.rank
        var pool = pool  // candidates, taken from the end
        var outgoing: [Int] = []
        var incoming: [InstanceParcel] = []
        var bytes = 0
        for move in plan.moves {
            if move.from == rank {
                let chosen = Array(pool.suffix(move.count))
                pool.removeLast(move.count)
                outgoing += chosen
                let parcel = InstanceParcel(
                    state: tracker.state(slots: chosen), labels: chosen.map { data.train.labels[$0] },
                    images: data.train.images(inSlots: chosen)).encoded()
                try communicator.send(parcel, to: move.to, tag: Self.parcelTag)
            }
            bytes += InstanceParcel.encodedSize(
                count: move.count, rule: config.mastery, sampleSize: data.train.sampleSize)
            if move.to == rank {
                incoming.append(
                    try InstanceParcel(
                        decoding: communicator.receive(UInt8.self, from: move.from, tag: Self.parcelTag),
                        rule: config.mastery, sampleSize: data.train.sampleSize, source: move.from))
            }
        }
        if !outgoing.isEmpty {
            tracker.remove(slots: outgoing)
            data.train.remove(slots: outgoing)
        }
        for parcel in incoming {
            try tracker.append(parcel.state)
            data.train.append(images: parcel.images, labels: parcel.labels, ids: parcel.state.ids)
        }
        return bytes
    }

    /// Puts local instances (data and tracker together) in ascending global id order.
    private func sortByGlobalID() {
        let ids = data.train.ids
        let order = (0..<ids.count).sorted { ids[$0] < ids[$1] }
        guard order != Array(0..<ids.count) else { return }
        data.train = data.train.subset(slots: order)
        tracker.sortByID()
    }

    /// Every global id owned exactly once: the `IDTotals` of the owned ids, reduced over
    /// ranks, must equal those of the whole training split. Cheap enough for every epoch.
    func checkConservation(epoch: Int) throws {
        hooks.beforeConservationCheck(epoch, communicator.rank, &data.train)
        guard tracker.ids == data.train.ids else {
            throw TrainingError.conservation("rank \(communicator.rank): tracker and data slots disagree at epoch \(epoch)")
        }
        let local = IDTotals(ids: data.train.ids)
        var sums = [local.count, local.sum]
        var xor = [local.xor]
        try communicator.allreduce(&sums, .sum)
        try communicator.allreduce(&xor, .bitwiseXor)
        let owned = IDTotals(count: sums[0], sum: sums[1], xor: xor[0]), expected = data.globalIDTotals
        guard owned == expected else {
            throw TrainingError.conservation(
                "epoch \(epoch): ranks own \(owned), expected \(expected): an instance was lost or duplicated")
        }
    }
}
