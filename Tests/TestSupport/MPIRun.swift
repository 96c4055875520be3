import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `mpirun` as the tests launch it: on this machine, any number of ranks on any number
/// of cores (oversubscribed, unbound), as root too.
public enum MPIRun {
    /// Set for every launch: oversubscription also for launches that do not pass the flag
    /// (a singleton's own runtime, `cluster-sim mpirun`).
    public static let environment = ["OMPI_MCA_rmaps_base_oversubscribe": "1"]

    /// `mpirun` on PATH; a missing one skips the test (fails it in CI).
    public static func launcher() throws -> String {
        try ExternalTool.require("mpirun", hint: "scripts/install-deps.sh")
    }

    /// The options before the program: `--allow-run-as-root` (as root), `--oversubscribe`,
    /// `--bind-to none`, `-np ranks`, and `-x NAME` for each variable to forward to the ranks.
    public static func options(ranks: Int, exporting names: [String] = []) -> [String] {
        (getuid() == 0 ? ["--allow-run-as-root"] : []) + ["--oversubscribe", "--bind-to", "none", "-np", String(ranks)]
            + names.sorted().flatMap { ["-x", $0] }
    }

    /// `mpirun <options> command...` with a deadline; `environment` is set for mpirun and
    /// forwarded to every rank.
    public static func run(
        ranks: Int, _ command: [String], environment: [String: String] = [:], timeout: Double
    ) throws -> Subprocess.Result {
        try Subprocess.run(
            try launcher(), options(ranks: ranks, exporting: Array(environment.keys)) + command,
            environment: Self.environment.merging(environment) { $1 }, timeout: timeout)
    }
}
