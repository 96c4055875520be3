import Foundation
import XCTest

/// The multi-host test bed (`scripts/cluster-sim/cluster-sim`) and the processes the
/// cluster tests start. Every process has a deadline; every bed gets a unique name.
enum Cluster {
    /// `cluster-sim`'s exit status when this machine cannot make network namespaces.
    static let unavailableStatus: Int32 = 77

    /// The package root, found from this source file (Tests/ClusterTests/ClusterBed.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let script = packageRoot + "/scripts/cluster-sim/cluster-sim"
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// The `ies` executable built beside the test runner (`<products>/iesPackageTests.xctest`),
    /// else the release build in the package.
    static var iesBinary: String { product("ies") }

    /// The test-only `ies-testbed` (the MPI self-test), found the same way.
    static var testbedBinary: String { product("ies-testbed") }

    private static func product(_ name: String) -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return packageRoot + "/.build/release/" + name
    }

    /// Skips (or, under CI, fails) when the prerequisites of a multi-process run are missing.
    static func requirePrerequisites() throws {
        guard FileManager.default.isExecutableFile(atPath: iesBinary) else {
            XCTFail("ies binary not found at \(iesBinary): run `swift build -c release` first")
            throw XCTSkip("no ies binary")
        }
        guard FileManager.default.fileExists(atPath: fashionMNIST) else {
            throw XCTSkip("\(fashionMNIST) is missing: run scripts/install-deps.sh")
        }
        guard which("mpirun") != nil else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("mpirun is not installed") }
            throw XCTSkip("mpirun is not installed (scripts/install-deps.sh)")
        }
    }

    static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A bed name no other test (or concurrent test run) uses: `xct` + random letters, so
    /// leftovers of killed test runs are recognizable in `cluster-sim list`.
    static func uniqueBedName() -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return "xct" + String((0..<8).map { _ in letters.randomElement()! })
    }

    /// `cluster-sim ARGS...`.
    static func clusterSim(_ arguments: [String], timeout: Double) throws -> ProcessResult {
        try run("/bin/bash", [script] + arguments, timeout: timeout)
    }

    /// `mpirun -np ranks ies ARGS` on this machine over shared memory (the reference runs).
    static func sharedMemoryRun(ranks: Int, _ arguments: [String], timeout: Double = 90) throws -> ProcessResult {
        try run(
            which("mpirun")!,
            ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(ranks), iesBinary]
                + arguments, timeout: timeout)
    }

    struct ProcessResult {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
        var seconds: Double
        var succeeded: Bool { status == 0 && !timedOut }
        var output: String { stdout + stderr }
    }

    /// Runs a program with a deadline: past `timeout` seconds it gets SIGTERM, ten seconds
    /// later SIGKILL, and the result says `timedOut`, so a hang fails a test instead of
    /// stalling the suite. (`cluster-sim mpirun` execs mpirun, so the signal reaches it.)
    /// Every wait is bounded, also the ones for the end of its output: a descendant left
    /// running (an orted, until the bed goes down) may hold the pipes, and Foundation only
    /// reports the child ended once such inherited descriptors close.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let collected = Collector()
        let outputEnded = DispatchSemaphore(value: 0)
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; outputEnded.signal() } else { collected.append(out: data) }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; outputEnded.signal() } else { collected.append(err: data) }
        }
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        let started = Date()
        try process.run()
        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            if finished.wait(timeout: .now() + 10) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                _ = finished.wait(timeout: .now() + 10)
            }
        }
        // Both pipes at end of file, or give up on what is still buffered.
        let drainDeadline = DispatchTime.now() + (timedOut ? 1 : 10)
        for _ in 0..<2 { if outputEnded.wait(timeout: drainDeadline) == .timedOut { break } }
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        return ProcessResult(
            status: process.isRunning ? -1 : process.terminationStatus, stdout: collected.stdout,
            stderr: collected.stderr, timedOut: timedOut, seconds: Date().timeIntervalSince(started))
    }

    /// A child's output, appended from the pipes' reader threads.
    final class Collector: @unchecked Sendable {
        private let lock = NSLock()
        private var outData = Data(), errData = Data()
        func append(out data: Data) { lock.lock(); outData.append(data); lock.unlock() }
        func append(err data: Data) { lock.lock(); errData.append(data); lock.unlock() }
        var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: outData, as: UTF8.self) }
        var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errData, as: UTF8.self) }
    }

    /// The epochs of `metrics.jsonl`, one dictionary per line.
    static func metrics(_ run: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map {
            guard let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] else {
                throw CocoaError(.fileReadCorruptFile)
            }
            return object
        }
    }
}

/// One bed: `up` in the initializer, `down` from the test case's tearDown.
struct Bed {
    let name: String
    let hosts: Int
    let slots: Int

    /// `cluster-sim mpirun NAME ARGS...`: mpirun from the bed's head node, ranks on its hosts.
    func mpirun(_ arguments: [String], timeout: Double = 90) throws -> Cluster.ProcessResult {
        try Cluster.clusterSim(["mpirun", name] + arguments, timeout: timeout)
    }

    /// `ies ARGS` on `ranks` ranks of this bed.
    func ies(ranks: Int, _ arguments: [String], timeout: Double = 90) throws -> Cluster.ProcessResult {
        try mpirun(["-np", String(ranks), Cluster.iesBinary] + arguments, timeout: timeout)
    }
}

/// Test cases that make beds and run directories; both are removed after each test,
/// whether it passed, failed or threw.
class ClusterTestCase: XCTestCase {
    private var beds: [Bed] = []
    private var directories: [String] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        try Cluster.requirePrerequisites()
    }

    override func tearDown() {
        for bed in beds {
            let result = try? Cluster.clusterSim(["down", bed.name], timeout: 60)
            XCTAssertEqual(result?.status, 0, "cluster-sim down \(bed.name): \(result?.output ?? "did not run")")
        }
        beds = []
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
        directories = []
        super.tearDown()
    }

    /// A new bed of `hosts` hosts with `slots` slots each; skips the test, with
    /// cluster-sim's reason, where namespaces cannot be made.
    func makeBed(hosts: Int, slots: Int = 1) throws -> Bed {
        let bed = Bed(name: Cluster.uniqueBedName(), hosts: hosts, slots: slots)
        // Registered before `up`, so that even a half-made bed is taken down.
        beds.append(bed)
        let result = try Cluster.clusterSim(["up", bed.name, String(hosts), "--slots", String(slots)], timeout: 60)
        if result.status == Cluster.unavailableStatus {
            beds.removeLast()  // nothing was made, and `down` would be refused for the same reason
            throw XCTSkip(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard result.succeeded else {
            XCTFail("cluster-sim up \(bed.name) \(hosts) failed (status \(result.status)): \(result.output)")
            throw XCTSkip("no bed")
        }
        return bed
    }

    /// A fresh run directory (its parent is removed after the test).
    func runDirectory(_ label: String) throws -> String {
        let parent = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "ies-cluster-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        directories.append(parent)
        return parent + "/" + label
    }
}
