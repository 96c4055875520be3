import Foundation
import Mastery
import RunFormat

/// One row per training instance of a checkpoint, for `ies inspect --instances`: what IES
/// decided about it so far.
public struct InstanceListing {
    public struct Row: Equatable, Sendable {
        public var id: Int32
        public var label: Int32
        public var owner: Int32
        public var mastered: Bool
        /// Epochs for which it was decided mastered (it was only probed in those).
        public var epochsMastered: Int32
        /// The epoch after which it was first mastered; nil when never.
        public var firstMastered: Int32?
        public var lastLoss: Float
        /// The sum of the last k moving averages of |d2| (what the rule compares with the
        /// threshold); nil while the history is not full.
        public var movingAverage: Float?
    }

    public let rows: [Row]

    /// The rows of `checkpoint`; `labels` are the training labels by global id.
    public init(checkpoint: LoadedCheckpoint, labels: [Int32]) throws {
        let state = try Trainer.trackerState(of: checkpoint, rule: checkpoint.meta.config.mastery)
        let owners = try Trainer.ownerTable(of: checkpoint)
        guard labels.count == state.count else {
            throw RunFormatError.invalidCheckpoint(
                path: checkpoint.directory,
                message: "holds \(state.count) instances, the data given \(labels.count): it was made from other data")
        }
        self.init(state: state, owners: owners, labels: labels)
    }

    /// The rows of a tracker `state` in global id order, with the owner rank and label of each instance.
    /// The moving average is the state's own (`State.movingAverageSum`), computed as its decision was.
    public init(state: MasteryTracker.State, owners: [Int32], labels: [Int32]) {
        precondition(owners.count == state.count && labels.count == state.count)
        rows = (0..<state.count).map { i in
            Row(
                id: state.ids[i], label: labels[i], owner: owners[i], mastered: state.mastered[i],
                epochsMastered: state.masteredEpochs[i],
                firstMastered: state.firstMastered[i] > 0 ? state.firstMastered[i] : nil, lastLoss: state.lastLoss[i],
                movingAverage: state.movingAverageSum(i))
        }
    }

    public static let header = "id,label,owner_rank,mastered,epochs_mastered,first_mastered_epoch,last_loss,moving_average_d2"

    /// The rows as CSV (header first; empty fields where a value does not exist yet).
    public var csv: String {
        var lines = [Self.header]
        lines.reserveCapacity(rows.count + 1)
        for r in rows {
            lines.append(
                "\(r.id),\(r.label),\(r.owner),\(r.mastered ? 1 : 0),\(r.epochsMastered),"
                    + "\(r.firstMastered.map(String.init) ?? ""),\(r.lastLoss),\(r.movingAverage.map { "\($0)" } ?? "")")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
