import ArgumentParser
import Datasets
import NN

extension ModelPreset: ExpressibleByArgument {}
extension ShardStrategy: ExpressibleByArgument {}

/// `on` / `off` values of switches such as `--rebalance`.
enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
}
