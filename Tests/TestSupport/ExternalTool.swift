import Foundation
import XCTest

/// Programs the tests need from the machine (mpirun, python3, chromium, ...) and the rule
/// for missing ones: skip on a developer's machine, fail in CI (`CI=true`), where
/// .ci/run installs them.
public enum ExternalTool {
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The first of `names` found on PATH.
    public static func which(_ names: String...) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in names {
            for directory in path.split(separator: ":") where !directory.isEmpty {
                let candidate = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }

    /// The first of `names` on PATH, or `missing` naming them and `hint` (how to install).
    public static func require(
        _ names: String..., hint: String, file: StaticString = #filePath, line: UInt = #line
    ) throws -> String {
        for name in names { if let path = which(name) { return path } }
        try missing("\(names.joined(separator: " or ")) is not installed (\(hint))", file: file, line: line)
    }

    /// Skips the test with `message`, or fails it in CI.
    public static func missing(_ message: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if inCI { XCTFail("\(message) (CI=true: .ci/run should have installed it)", file: file, line: line) }
        throw XCTSkip(message)
    }
}
