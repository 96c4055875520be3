import Datasets
import Foundation
import XCTest

/// Shared helpers for the training tests: the real data, temporary directories, the CLI binary.
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

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory(_ name: String = #function) throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "ies-tests-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The `ies` executable built beside the test bundle.
    static var iesBinary: String { product("ies") }

    /// The test-only `ies-testbed` (training with injected faults) built beside the test bundle.
    static var testbedBinary: String { product("ies-testbed") }

    private static func product(_ name: String) -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Linux the test runner is `<products>/iesPackageTests.xctest`; on macOS a bundle inside it.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    struct ProcessResult {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
        var timedOut = false
        var seconds = 0.0
    }

    /// Runs `ies` with `arguments`, capturing its output.
    static func runIES(_ arguments: [String], timeout: Double = 120) throws -> ProcessResult {
        let binary = iesBinary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            XCTFail("ies binary not found at \(binary); run `swift build` first")
            throw XCTSkip("no binary")
        }
        return try run(binary, arguments, timeout: timeout)
    }

    /// `mpirun -np ranks ies arguments...` (as root too, oversubscribed, one thread per rank);
    /// `binary` replaces `ies` (the fault tests run `testbedBinary`).
    static func mpirunIES(
        ranks: Int, _ arguments: [String], timeout: Double = 180, environment: [String: String] = [:],
        binary: String = Fixtures.iesBinary
    ) throws -> ProcessResult {
        guard let mpirun = which("mpirun") else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("mpirun is not installed") }
            throw XCTSkip("mpirun is not installed (scripts/install-deps.sh)")
        }
        // -x forwards each extra environment variable to the ranks.
        let exports = environment.keys.sorted().flatMap { ["-x", $0] }
        return try run(
            mpirun,
            ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(ranks)] + exports
                + [binary] + arguments, timeout: timeout, environment: environment)
    }

    static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs a program with a deadline: past `timeout` seconds it is terminated (then killed)
    /// and the result says so (`timedOut`), so that a hang fails a test instead of stalling it.
    static func run(
        _ executable: String, _ arguments: [String], timeout: Double, environment extra: [String: String] = [:]
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let outputs = OutputCollector()
        out.fileHandleForReading.readabilityHandler = { outputs.append(out: $0.availableData) }
        err.fileHandleForReading.readabilityHandler = { outputs.append(err: $0.availableData) }
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        let started = Date()
        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if finished.wait(timeout: .now() + 10) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
        }
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        outputs.append(out: out.fileHandleForReading.readDataToEndOfFile())
        outputs.append(err: err.fileHandleForReading.readDataToEndOfFile())
        var result = ProcessResult(
            status: process.terminationStatus, reason: process.terminationReason,
            stdout: outputs.stdout, stderr: outputs.stderr)
        result.timedOut = timedOut
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// Thread-safe accumulation of a child's output (read handlers run on other threads).
    final class OutputCollector: @unchecked Sendable {
        private let lock = NSLock()
        private var outData = Data(), errData = Data()
        func append(out data: Data) { lock.lock(); outData.append(data); lock.unlock() }
        func append(err data: Data) { lock.lock(); errData.append(data); lock.unlock() }
        var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outData, as: UTF8.self) }
        var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errData, as: UTF8.self) }
    }
}

/// A test case that hands out fresh run directories (under temporary directories named
/// after the test) and removes them after each test.
class RunDirectoryTestCase: XCTestCase {
    private var directories: [String] = []

    override func tearDown() {
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
        directories = []
        super.tearDown()
    }

    func runDirectory() throws -> String {
        let directory = try Fixtures.temporaryDirectory(name)
        directories.append(directory)
        return directory + "/run"
    }
}
