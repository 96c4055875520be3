import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `ies-testbed mpi-selftest` under `mpirun` with several world sizes. Every
/// spawned process has a timeout; on expiry the whole launch (mpirun and its
/// ranks) is killed and the test fails instead of stalling.
final class MPIRunTests: XCTestCase {
    static let timeout: Double = 60

    func testOneRank() throws { try runSelfTest(ranks: 1) }
    func testTwoRanks() throws { try runSelfTest(ranks: 2) }
    func testFourRanks() throws { try runSelfTest(ranks: 4) }

    func testHangCheckThreeRanks() throws {
        let result = try runSelfTest(ranks: 3, ["--hang-check"])
        // Six staggers of up to 0.4 s each: the run cannot be instant.
        XCTAssertGreaterThan(result.seconds, 2.4)
    }

    func testWithoutMPIRunIsASingleton() throws {
        let result = try Spawn.run(try testbedBinary(), ["mpi-selftest"], timeout: Self.timeout)
        report("singleton", result)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "mpi-selftest ok rank 0 of 1 local 0/1\n")
    }

    /// Bad calls throw DistributedError naming the call, on every rank, and
    /// the communicator keeps working; one error (truncation) comes from MPI itself.
    func testErrorPathsDoNotHang() throws {
        for ranks in [1, 3] {
            let result = try runSelfTest(ranks: ranks, ["--error-check"])
            let caught = result.stdout.split(separator: "\n").filter { $0.hasPrefix("mpi-selftest caught: ") }
            for rank in 0..<ranks {
                for expected in [
                    "MPI_Bcast failed on rank \(rank): MPI_ERR_ROOT: invalid root",
                    "MPI_Gatherv failed on rank \(rank): MPI_ERR_ROOT",
                    "MPI_Send failed on rank \(rank): MPI_ERR_RANK",
                    "MPI_Send failed on rank \(rank): MPI_ERR_TAG",
                    "MPI_Allreduce failed on rank \(rank): MPI_ERR_COUNT",
                    "MPI_Mrecv failed on rank \(rank): MPI_ERR_TRUNCATE",
                    // From MPI_Recv's own return code and MPI_Error_string.
                    "MPI_Recv failed on rank \(rank): MPI_ERR_TRUNCATE: message truncated",
                    "MPI_Barrier failed on rank \(rank): MPI_ERR_OTHER: known error not in list (called after finalize())",
                ] {
                    XCTAssertTrue(
                        caught.contains { $0.dropFirst("mpi-selftest caught: ".count).hasPrefix(expected) },
                        "-np \(ranks): missing '\(expected)' in\n\(result.stdout)")
                }
            }
        }
    }

    /// A mismatch on one rank makes every rank exit 1 (and print no "ok").
    func testMismatchOnOneRankFailsTheRun() throws {
        let result = try mpirun(ranks: 3, ["--fail-on-rank", "1"])
        report("mismatch -np 3", result)
        XCTAssertEqual(result.status, 1)
        XCTAssertFalse(result.stdout.contains("mpi-selftest ok"), result.stdout)
        XCTAssertTrue(result.stderr.contains("rank 1 of 3: MISMATCH deliberate mismatch"), result.stderr)
    }

    /// abort(code:) on one rank ends the ranks waiting for it in a collective.
    func testAbortEndsEveryRank() throws {
        let result = try mpirun(ranks: 3, ["--abort-on-rank", "2"])
        report("abort -np 3", result)
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertFalse(result.stdout.contains("mpi-selftest ok"), result.stdout)
    }

    /// The harness itself: a rank that never arrives is killed, with its
    /// launcher and the ranks spinning in the collective, at the timeout.
    func testHangIsKilledAtTheTimeout() throws {
        let launcher = try mpirunPath()
        let arguments = [
            "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2", try testbedBinary(),
            "mpi-selftest", "--hang-on-rank", "1",
        ]
        let result = try Spawn.run(launcher, arguments, timeout: 4)
        print(String(format: "mpi-selftest hang -np 2: killed=%d exit %d in %.2f s", result.timedOut ? 1 : 0, result.status, result.seconds))
        XCTAssertTrue(result.timedOut, "expected a timeout; got exit \(result.status)\n\(result.stderr)")
        XCTAssertLessThan(result.seconds, 15)
        XCTAssertTrue(result.leftovers.isEmpty, "processes left behind: \(result.leftovers)")
    }

    // MARK: - Helpers

    @discardableResult
    private func runSelfTest(ranks: Int, _ options: [String] = []) throws -> Spawn.Result {
        let result = try mpirun(ranks: ranks, options)
        report("-np \(ranks) \(options.joined(separator: " "))", result)
        XCTAssertEqual(result.status, 0, "mpirun -np \(ranks) failed:\n\(result.stdout)\n\(result.stderr)")
        let ok = result.stdout.split(separator: "\n").filter { $0.hasPrefix("mpi-selftest ok ") }
        XCTAssertEqual(ok.count, ranks, result.stdout)
        var seen: [Int] = []
        for line in ok {
            // "mpi-selftest ok rank R of S local L/LS"
            let words = line.split(separator: " ")
            guard words.count == 8, let rank = Int(words[3]), let size = Int(words[5]) else {
                XCTFail("unexpected line: \(line)")
                continue
            }
            let local = words[7].split(separator: "/").compactMap { Int($0) }
            XCTAssertEqual(size, ranks, String(line))
            XCTAssertTrue(local.count == 2 && local[0] < local[1] && local[1] <= ranks, String(line))
            seen.append(rank)
        }
        XCTAssertEqual(seen.sorted(), Array(0..<ranks), "each rank must report ok exactly once")
        return result
    }

    private func mpirun(ranks: Int, _ options: [String]) throws -> Spawn.Result {
        let launcher = try mpirunPath()
        let arguments =
            ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "\(ranks)", try testbedBinary(), "mpi-selftest"]
            + options
        return try Spawn.run(launcher, arguments, timeout: Self.timeout)
    }

    private func report(_ what: String, _ result: Spawn.Result) {
        print(String(format: "mpi-selftest %@: exit %d in %.2f s", what, result.status, result.seconds))
        if result.timedOut {
            XCTFail("\(what): timed out after \(Self.timeout) s and was killed\n\(result.stdout)\n\(result.stderr)")
        }
    }

    private func mpirunPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/mpirun"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("mpirun is not on PATH") }
        throw XCTSkip("mpirun is not on PATH (install openmpi-bin)")
    }

    /// The test-only `ies-testbed` beside the test runner (on Linux the runner lives in
    /// `.build/<config>/`), or `$IES_TESTBED_BINARY`.
    private func testbedBinary() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["IES_TESTBED_BINARY"] { return explicit }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("ies-testbed").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                access(candidate, X_OK) == 0
            {
                return candidate
            }
            dir.deleteLastPathComponent()
        }
        XCTFail("no ies-testbed binary near \(CommandLine.arguments[0]); build it (swift build) or set IES_TESTBED_BINARY")
        throw XCTSkip("no ies-testbed binary")
    }
}

/// posix_spawn with output to files (no pipe to drain), a timeout, and
/// clean-up of every process the launch created.
enum Spawn {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        var timedOut: Bool
        /// After a timeout: processes of the launch still alive after clean-up (should be none).
        var leftovers: [pid_t] = []
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ executable: String, _ arguments: [String], timeout: Double) throws -> Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ies-mpirun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("stdout").path
        let errPath = dir.appendingPathComponent("stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        #if os(Linux)
        // POSIX_SPAWN_SETSID: a new session, so that every process of the launch
        // (OpenMPI gives each rank its own process group) can be found again.
        posix_spawnattr_setflags(&attributes, 0x80)
        #else
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        #endif

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let start = Date()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw Failure(description: "posix_spawn \(executable): \(String(cString: strerror(rc)))") }

        var status: Int32 = 0
        var timedOut = false
        var leftovers: [pid_t] = []
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR { throw Failure(description: "waitpid: \(String(cString: strerror(errno)))") }
            if Date().timeIntervalSince(start) > timeout {
                timedOut = true
                terminate(pid, &status)
                usleep(200_000)
                leftovers = sessionMembers(pid)
                break
            }
            usleep(20_000)
        }
        let seconds = Date().timeIntervalSince(start)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Result(
            status: exitCode(status), stdout: out, stderr: err, seconds: seconds, timedOut: timedOut, leftovers: leftovers)
    }

    /// SIGTERM to the launcher (mpirun then stops its ranks), then SIGKILL to
    /// everything left in its session; reaps the launcher.
    private static func terminate(_ pid: pid_t, _ status: inout Int32) {
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                killSession(pid)
                return
            }
            usleep(50_000)
        }
        killSession(pid)
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    private static func killSession(_ session: pid_t) {
        #if os(Linux)
        for pid in sessionMembers(session) where pid != session { kill(pid, SIGKILL) }
        #else
        killpg(session, SIGKILL)
        #endif
    }

    /// Live (not zombie) processes whose session id is `session` (Linux; empty elsewhere).
    static func sessionMembers(_ session: pid_t) -> [pid_t] {
        #if os(Linux)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (comm)": state ppid pgrp session ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 3, pid_t(fields[3]) == session, fields[0] != "Z" { members.append(pid) }
        }
        return members
        #else
        return []
        #endif
    }

    /// Exit status, or 128 + signal number for a signalled process.
    private static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
