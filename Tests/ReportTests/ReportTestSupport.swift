import Foundation
import XCTest

/// Fixture runs, scratch directories, external programs with deadlines, and the rule
/// for missing tools: skip on a developer's machine, fail in CI (CI=true), where
/// .ci/run installs them.
enum ReportTestSupport {
    /// A fixture run directory (`mlp-1rank`: one rank; `mlp-2ranks`: two ranks, class sharding).
    static func fixture(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the Fixtures resource is missing from the test bundle")
        }
        return url.appendingPathComponent(name).path
    }

    /// A fresh empty directory, removed by the caller.
    static func temporaryDirectory(_ name: String = #function) throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "ies-report-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Copies a fixture run (metrics.jsonl and checkpoints' meta.json) into a scratch directory.
    static func copyFixture(_ name: String, to directory: String) throws -> String {
        let destination = (directory as NSString).appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: fixture(name), toPath: destination)
        return destination
    }

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Skips the test with `message`, or fails it in CI.
    static func missing(_ message: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if inCI { XCTFail("\(message) (CI=true: .ci/run should have installed it)", file: file, line: line) }
        throw XCTSkip(message)
    }

    static func which(_ names: [String]) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in names {
            for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
                return "\(directory)/\(name)"
            }
        }
        return nil
    }

    /// The `ies` executable built beside the test bundle.
    static var iesBinary: String? {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("ies").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs a program, terminating (then killing) it past `timeout` seconds so that a hang
    /// fails the test instead of stalling the suite.
    static func run(_ executable: String, _ arguments: [String], timeout: Double,
                    environment extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let scratch = try temporaryDirectory("process")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // Files rather than pipes: a chatty child can never block on a full pipe.
        let outPath = scratch + "/stdout", errPath = scratch + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if finished.wait(timeout: .now() + 10) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
            }
        }
        try? out.close()
        try? err.close()
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, stdout: stdout, stderr: stderr, timedOut: timedOut)
    }

    /// The metrics.jsonl lines of a run as dictionaries (the ground truth the tests compare against).
    static func metricsObjects(_ runDirectory: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}
