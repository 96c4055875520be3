import Foundation
import TestSupport
import XCTest

/// The multi-host test bed (`scripts/cluster-sim/cluster-sim`) and the processes the
/// cluster tests start. Every process has a deadline (`Subprocess`); every bed gets a unique name.
enum Cluster {
    /// `cluster-sim`'s exit status when this machine cannot make network namespaces.
    static let unavailableStatus: Int32 = 77

    /// The package root, found from this source file (Tests/ClusterTests/ClusterBed.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let script = packageRoot + "/scripts/cluster-sim/cluster-sim"
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// Skips (or, under CI, fails) when the prerequisites of a multi-process run are missing.
    static func requirePrerequisites() throws {
        _ = try BuiltProducts.require("ies")
        guard FileManager.default.fileExists(atPath: fashionMNIST) else {
            throw XCTSkip("\(fashionMNIST) is missing: run scripts/install-deps.sh")
        }
        _ = try MPIRun.launcher()
    }

    /// A bed name no other test (or concurrent test run) uses: `xct` + random letters, so
    /// leftovers of killed test runs are recognizable in `cluster-sim list`.
    static func uniqueBedName() -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return "xct" + String((0..<8).map { _ in letters.randomElement()! })
    }

    /// `cluster-sim ARGS...`.
    static func clusterSim(_ arguments: [String], timeout: Double) throws -> Subprocess.Result {
        try Subprocess.run("/bin/bash", [script] + arguments, timeout: timeout)
    }

    /// `mpirun -np ranks ies ARGS` on this machine over shared memory (the reference runs).
    static func sharedMemoryRun(ranks: Int, _ arguments: [String], timeout: Double = 90) throws -> Subprocess.Result {
        try MPIRun.run(ranks: ranks, [BuiltProducts.ies] + arguments, timeout: timeout)
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
    func mpirun(_ arguments: [String], timeout: Double = 90) throws -> Subprocess.Result {
        try Cluster.clusterSim(["mpirun", name] + arguments, timeout: timeout)
    }

    /// `ies ARGS` on `ranks` ranks of this bed.
    func ies(ranks: Int, _ arguments: [String], timeout: Double = 90) throws -> Subprocess.Result {
        try mpirun(["-np", String(ranks), BuiltProducts.ies] + arguments, timeout: timeout)
    }
}

/// Test cases that make beds and run directories; both are removed after each test,
/// whether it passed, failed or threw.
class ClusterTestCase: XCTestCase {
    private var beds: [Bed] = []
    private var directories: [TemporaryDirectory] = []

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
        let parent = try TemporaryDirectory(name)
        directories.append(parent)
        return parent.file(label)
    }
}
