import ArgumentParser
import Datasets
import Distributed
import Foundation
import Mastery
import NN
import Training

#if canImport(Glibc)
import Glibc
#endif

/// `ies-testbed train`: `ies train` for the options the fault tests use, with faults
/// injected through `TrainerHooks`. The configuration starts from the same defaults as
/// `ies train`, so an uninterrupted `ies train` run is the reference to compare with.
struct FaultyTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train like `ies train`, with an injected fault.")

    @Option var runDir: String
    @Option var epochs: Int
    @Option var model: String = "mlp"
    @Option var limit: Int?
    @Option var threads: Int = 1
    @Option var seed: UInt64 = 0
    @Option var iesThreshold: Float?
    @Option var shardBy: String = "contiguous"
    @Flag var noProgress = false

    @Option(help: "This rank SIGKILLs itself right after the checkpoint of --kill-after-checkpoint.")
    var killRank: Int?
    @Option var killAfterCheckpoint: Int?

    @Option(help: "This rank silently loses an instance before the ownership check of --drop-instance-epoch.")
    var dropInstanceRank: Int?
    @Option var dropInstanceEpoch: Int?

    @Option(help: "This rank perturbs one parameter just before the statistics of --perturb-epoch are gathered.")
    var perturbRank: Int?
    @Option var perturbEpoch: Int?

    func run() throws {
        let communicator = try Communicator.world()
        var config = TrainingConfig(runDirectory: runDir)
        config.epochs = epochs
        guard let preset = ModelPreset(rawValue: model), let sharding = ShardStrategy(rawValue: shardBy) else {
            throw ValidationError("unknown --model or --shard-by")
        }
        config.model = preset
        config.sharding = sharding
        config.limit = limit
        config.threads = threads
        config.seed = seed
        config.showProgress = !noProgress
        if let iesThreshold {
            config.mastery = try MasteryRule(threshold: iesThreshold, window: config.mastery.window, k: config.mastery.k)
        }
        var hooks = TrainerHooks()
        if let killRank, let killAfterCheckpoint {
            hooks.afterCheckpoint = { epoch, rank in
                if rank == killRank && epoch == killAfterCheckpoint { kill(getpid(), SIGKILL) }
            }
        }
        if let dropInstanceRank, let dropInstanceEpoch {
            hooks.beforeConservationCheck = { epoch, rank, shard in
                if rank == dropInstanceRank && epoch == dropInstanceEpoch && shard.count > 0 {
                    shard.remove(slots: [shard.count - 1])
                }
            }
        }
        if let perturbRank, let perturbEpoch {
            hooks.beforeStatistics = { epoch, rank, model in
                if rank == perturbRank && epoch == perturbEpoch {
                    model.parameters.withUnsafeMutableBufferPointer { $0[0] = $0[0].nextUp }
                }
            }
        }
        do {
            _ = try Trainer(config: config, communicator: communicator, hooks: hooks).run()
            communicator.finalize()
        } catch {
            FileHandle.standardError.write(Data("Error (rank \(communicator.rank)): \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }
}
