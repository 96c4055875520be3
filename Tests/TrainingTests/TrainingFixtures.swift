import Datasets
import Foundation
import TestSupport
import XCTest

/// Shared helpers for the training tests: the real data, `ies` alone and under mpirun.
enum Fixtures {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST (train limited to `limit`), loaded once per limit.
    static func fashion(limit: Int) throws -> DatasetSplits {
        guard FileManager.default.fileExists(atPath: fashionMNIST) else {
            throw XCTSkip("\(fashionMNIST) is missing: run scripts/install-deps.sh")
        }
        lock.lock()
        defer { lock.unlock() }
        if let cached = cache[limit] { return cached }
        let splits = try DatasetLoader.load(directory: fashionMNIST, limit: limit)
        cache[limit] = splits
        return splits
    }
    nonisolated(unsafe) private static var cache: [Int: DatasetSplits] = [:]
    private static let lock = NSLock()

    /// Runs `ies` with `arguments`, capturing its output.
    static func runIES(_ arguments: [String], timeout: Double = 120) throws -> Subprocess.Result {
        try Subprocess.run(try BuiltProducts.require("ies"), arguments, environment: MPIRun.environment, timeout: timeout)
    }

    /// `mpirun -np ranks ies arguments...` (`MPIRun.options`; `environment` is forwarded
    /// to the ranks); `binary` replaces `ies` (the fault tests run `BuiltProducts.testbed`).
    static func mpirunIES(
        ranks: Int, _ arguments: [String], timeout: Double = 180, environment: [String: String] = [:],
        binary: String = BuiltProducts.ies
    ) throws -> Subprocess.Result {
        try MPIRun.run(ranks: ranks, [binary] + arguments, environment: environment, timeout: timeout)
    }
}

/// A test case that hands out fresh run directories (under temporary directories named
/// after the test) and removes them after each test.
class RunDirectoryTestCase: XCTestCase {
    private var directories: [TemporaryDirectory] = []

    override func tearDown() {
        directories = []
        super.tearDown()
    }

    func runDirectory() throws -> String {
        let directory = try TemporaryDirectory(name)
        directories.append(directory)
        return directory.file("run")
    }
}
