import Foundation
import XCTest

/// Runs one test in a child copy of the test process, so that a test which traps
/// (a crash in the code under test) fails itself instead of killing the whole run.
///
/// Usage, inside test method `testFoo` of class `Bar` in module `Baz`:
///
///     if Isolation.isChild("Baz.Bar/testFoo") { body(); return }
///     try Isolation.assertChildSucceeds("Baz.Bar/testFoo")
public enum Isolation {
    static let variable = "IES_ISOLATED_TEST"

    /// True in the child process started for `test`.
    public static func isChild(_ test: String) -> Bool {
        ProcessInfo.processInfo.environment[variable] == test
    }

    /// Re-runs the test binary with only `test` selected; fails when the child does not
    /// exit with status 0 (a trap, or an XCTest failure inside the child).
    /// Skips where the runner is not the Linux xctest executable.
    public static func assertChildSucceeds(
        _ test: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        #if os(Linux)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = [test]
        var environment = ProcessInfo.processInfo.environment
        environment[variable] = test
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            XCTFail("could not start \(CommandLine.arguments[0]): \(error)", file: file, line: line)
            return
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // The runner prints "Test Case 'Class.method' passed" for "Module.Class/method".
        let caseName = test.split(separator: ".", maxSplits: 1).last.map(String.init)?
            .replacingOccurrences(of: "/", with: ".") ?? test
        let ranTheTest = output.contains("Test Case '\(caseName)' passed")
        let lines = output.split(separator: "\n")
        let diagnosis = (lines.filter { $0.contains("Fatal error") || $0.contains("error:") }.prefix(10)
            + lines.filter { $0.contains(" at /") && !$0.contains("[system]") }.prefix(4)).joined(separator: "\n")
        XCTAssertTrue(
            process.terminationReason == .exit && process.terminationStatus == 0 && ranTheTest,
            "isolated test \(test) failed (\(process.terminationReason == .exit ? "exit" : "signal") \(process.terminationStatus)):\n\(diagnosis)",
            file: file, line: line)
        #else
        throw XCTSkip("Isolation is implemented for the Linux xctest runner only")
        #endif
    }
}
