import Foundation
import TestSupport
import XCTest

/// The test bed itself: hosts are separate network namespaces with their own names,
/// MPI runs across them over TCP, and `down` leaves nothing behind.
final class ClusterBedTests: ClusterTestCase {
    /// Namespaces whose names belong to bed `name`.
    private func namespaces(of name: String) throws -> [String] {
        let listed = try Subprocess.run("/bin/sh", ["-c", "ip netns list"], timeout: 30)
        XCTAssertEqual(listed.status, 0, listed.output)
        return listed.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix("csim-\(name)-") }
    }

    func testRanksRunOnSeparateHostsAndTheCommunicatorWorksOverTCP() throws {
        let bed = try makeBed(hosts: 2, slots: 2)
        XCTAssertEqual(try namespaces(of: bed.name).sorted(), ["csim-\(bed.name)-h0", "csim-\(bed.name)-h1", "csim-\(bed.name)-sw"])

        // Slots fill host by host: ranks 0 and 1 on host 0, 2 and 3 on host 1; each host has
        // its own hostname and only its own address.
        let placement = try bed.mpirun(
            ["-np", "4", "/bin/sh", "-c", "echo \"rank $OMPI_COMM_WORLD_RANK $(hostname) $(ip -4 -o addr show eth0 | awk '{print $4}')\""],
            timeout: 60)
        XCTAssertTrue(placement.succeeded, placement.output)
        let lines = Set(placement.stdout.split(separator: "\n").map(String.init))
        XCTAssertEqual(lines, [
            "rank 0 csim-\(bed.name)-h0 10.77.0.1/24", "rank 1 csim-\(bed.name)-h0 10.77.0.1/24",
            "rank 2 csim-\(bed.name)-h1 10.77.0.2/24", "rank 3 csim-\(bed.name)-h1 10.77.0.2/24",
        ])

        // Every Communicator operation, checked against its closed form; MPI sees two nodes
        // of two ranks each (MPI_Comm_split_type by node).
        let selftest = try bed.mpirun(["-np", "4", BuiltProducts.testbed, "mpi-selftest"], timeout: 60)
        XCTAssertTrue(selftest.succeeded, selftest.output)
        for rank in 0..<4 {
            XCTAssertTrue(
                selftest.stdout.contains("mpi-selftest ok rank \(rank) of 4 local \(rank % 2)/2"), selftest.output)
        }
    }

    func testDownRemovesEverythingAndIsIdempotent() throws {
        let bed = try makeBed(hosts: 3)
        let hostfile = try Cluster.clusterSim(["hostfile", bed.name], timeout: 30)
        XCTAssertTrue(hostfile.succeeded, hostfile.output)
        let path = hostfile.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(
            try String(contentsOfFile: path, encoding: .utf8),
            "10.77.0.1 slots=1\n10.77.0.2 slots=1\n10.77.0.3 slots=1\n")
        XCTAssertEqual(try namespaces(of: bed.name).count, 4)

        // A process left running on a host (as after a killed test) does not stop `down`:
        // it is killed. (Started as a Process of its own: Foundation only reports a child
        // as ended once everything that inherited its descriptors has, so a background
        // job of a shell would hold that shell "running" for as long as it lives.)
        let leftover = Process()
        leftover.executableURL = URL(fileURLWithPath: "/bin/bash")
        leftover.arguments = [Cluster.script, "exec", bed.name, "1", "sleep", "300"]
        leftover.standardOutput = FileHandle.nullDevice
        leftover.standardError = FileHandle.nullDevice
        let ended = DispatchSemaphore(value: 0)
        leftover.terminationHandler = { _ in ended.signal() }
        try leftover.run()
        defer { if leftover.isRunning { kill(leftover.processIdentifier, SIGKILL) } }
        let started = try Subprocess.run(
            "/bin/bash",
            ["-c", "for _ in $(seq 50); do [ -n \"$(ip netns pids csim-\(bed.name)-h1)\" ] && exit 0; sleep 0.1; done; exit 1"],
            timeout: 30)
        XCTAssertTrue(started.succeeded, "the process on host 1 did not start: \(started.output)")

        for attempt in 1...2 {
            let down = try Cluster.clusterSim(["down", bed.name], timeout: 60)
            XCTAssertEqual(down.status, 0, "down #\(attempt): \(down.output)")
            XCTAssertEqual(try namespaces(of: bed.name), [], "down #\(attempt) left namespaces")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "down #\(attempt) left the state")
        }
        XCTAssertEqual(ended.wait(timeout: .now() + 10), .success, "down left the process on host 1 running")
        let gone = try Cluster.clusterSim(["hostfile", bed.name], timeout: 30)
        XCTAssertNotEqual(gone.status, 0, "hostfile of a removed bed")
    }

    /// Without privileges the bed cannot be made: cluster-sim must say so and exit 77,
    /// the status the tests turn into a skip.
    func testWithoutPrivilegesUpExits77WithTheReason() throws {
        let name = Cluster.uniqueBedName()
        let result: Subprocess.Result
        if getuid() == 0 {
            guard let setpriv = ExternalTool.which("setpriv") else { throw XCTSkip("setpriv is not installed") }
            result = try Subprocess.run(
                setpriv, ["--reuid", "65534", "--regid", "65534", "--clear-groups", "/bin/bash", Cluster.script, "up", name, "2"],
                timeout: 30)
        } else {
            result = try Cluster.clusterSim(["up", name, "2"], timeout: 30)
        }
        XCTAssertEqual(result.status, Cluster.unavailableStatus, result.output)
        XCTAssertTrue(result.stderr.contains("network namespaces unavailable"), result.stderr)
        if ExternalTool.which("ip") != nil { XCTAssertEqual(try namespaces(of: name), []) }
    }
}
