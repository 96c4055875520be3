import ArgumentParser

/// `ies`: data-parallel training with instance-dependent early stopping.
struct IES: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ies",
        abstract: "Train neural networks with instance-dependent early stopping (IES, ICLR 2025).",
        subcommands: [Train.self, Eval.self, Inspect.self, ReportCommand.self, Bench.self],
        defaultSubcommand: nil)
}
