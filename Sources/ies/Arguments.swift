import ArgumentParser
import Datasets
import NN

extension ModelPreset: ExpressibleByArgument {}
extension ShardStrategy: ExpressibleByArgument {}
