import Datasets
import NN

/// Fault injection for tests, handed to `Trainer` explicitly (the product never reads
/// such switches from its environment). Every hook defaults to doing nothing.
public struct TrainerHooks {
    /// Called on every rank once the checkpoint of `epoch` (1-based) is complete.
    public var afterCheckpoint: (_ epoch: Int, _ rank: Int) -> Void = { _, _ in }
    /// Called with this rank's shard just before the ownership check of `epoch`; may alter it
    /// (the conservation test drops an instance to see the check stop the job).
    public var beforeConservationCheck: (_ epoch: Int, _ rank: Int, _ shard: inout Dataset) -> Void = { _, _, _ in }

    /// Called with the model on every rank just before the statistics of `epoch` (1-based)
    /// are gathered, which compare the ranks' parameter digests; may alter the parameters
    /// (the agreement test perturbs one rank's to see the check stop the job).
    public var beforeStatistics: (_ epoch: Int, _ rank: Int, _ model: Model) -> Void = { _, _, _ in }

    public init() {}

    /// No faults.
    public static let none = TrainerHooks()
}
