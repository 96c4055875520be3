import ArgumentParser
import NN

extension ModelPreset: ExpressibleByArgument {}
