import Foundation
import XCTest

/// The executables SwiftPM builds beside the tests (`ies`, and `ies-testbed`, the test-only
/// program multi-rank tests run under mpirun).
///
/// One rule: the products directory is the nearest of the test runner's directory and its
/// three parents that holds the executable (on Linux the runner is
/// `.build/<config>/iesPackageTests.xctest`, on macOS a binary inside that bundle).
public enum BuiltProducts {
    /// `ies`, or where it is expected when it has not been built.
    public static var ies: String { path("ies") }

    /// `ies-testbed`, or where it is expected when it has not been built.
    public static var testbed: String { path("ies-testbed") }

    /// The executable `name` in the products directory, or the runner's own directory
    /// joined with `name` when no candidate holds it (so a message can name the place).
    public static func path(_ name: String) -> String {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var directory = runner
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
            directory.deleteLastPathComponent()
        }
        return runner.appendingPathComponent(name).path
    }

    /// The executable `name`; a missing one fails the test (a build without it is a broken
    /// build, also on a developer's machine) and skips the rest of it.
    public static func require(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let path = path(name)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            XCTFail("\(name) not found at \(path): build with `swift build --build-tests` first", file: file, line: line)
            throw XCTSkip("no \(name) binary")
        }
        return path
    }
}
