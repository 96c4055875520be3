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
    static var iesBinary: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // On Linux the test runner is `<products>/iesPackageTests.xctest`; on macOS a bundle inside it.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("ies").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ies").path
    }

    struct ProcessResult {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
    }

    /// Runs `ies` with `arguments`, capturing its output.
    static func runIES(_ arguments: [String]) throws -> ProcessResult {
        let binary = iesBinary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            XCTFail("ies binary not found at \(binary); run `swift build` first")
            throw XCTSkip("no binary")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus, reason: process.terminationReason,
            stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}
