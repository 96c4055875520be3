import ArgumentParser

/// `ies-testbed`: what the multi-rank tests run under mpirun besides `ies` itself. It is
/// built with the package but is not a product: the shipped `ies` carries no test hooks.
@main
struct TestBed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ies-testbed",
        abstract: "Test harness: the MPI self-test, training with injected faults, gradient dumps.",
        subcommands: [MPISelfTest.self, FaultyTrain.self, DumpGradients.self, ShardRead.self])
}
