import ArgumentParser
import Datasets
import NN
import Training

extension ModelPreset: ExpressibleByArgument {}
extension Conv2d.Algorithm: ExpressibleByArgument {}
extension ShardStrategy: ExpressibleByArgument {}
extension OptimizerChoice: ExpressibleByArgument {}
extension Augmentation: ExpressibleByArgument {}
extension NPYLayout: ExpressibleByArgument {}
extension LRScaling: ExpressibleByArgument {}

/// `on` / `off` values of switches such as `--rebalance`.
enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
}
