import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program the tests start, with a deadline: THE way a test runs another process.
///
/// The child gets a session of its own (on Linux; a process group elsewhere), stdin from
/// /dev/null and its output in files (a chatty child never blocks on a full pipe, and a
/// descendant that inherits the descriptors cannot hold the wait open). Past the deadline
/// the child gets SIGTERM (mpirun then stops its ranks), and `grace` seconds later every
/// process still in its session gets SIGKILL, so a hang fails a test instead of stalling CI.
///
///     let result = try Subprocess.run("/usr/bin/env", ["sha256sum", path], timeout: 30)
///     XCTAssertEqual(result.status, 0, result.stderr)
public final class Subprocess {
    public struct Result {
        /// The exit status, or the signal number when `reason` is `.uncaughtSignal`.
        public var status: Int32
        public var reason: Process.TerminationReason
        public var stdout: String
        public var stderr: String
        /// The deadline passed and the process was killed.
        public var timedOut: Bool
        /// From the start to the end (or to the kill).
        public var seconds: Double
        /// After a timeout: processes of the session still alive after the kill (should be none).
        public var leftovers: [pid_t]

        /// Exited with status 0 before the deadline.
        public var succeeded: Bool { reason == .exit && status == 0 && !timedOut }
        /// stdout, then stderr.
        public var output: String { stdout + stderr }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Seconds between SIGTERM and SIGKILL when the deadline passes.
    public static let grace: Double = 5

    public let pid: pid_t
    public let started: Date
    private let directory: String
    private var rawStatus: Int32?

    /// Starts `executable` (a path; no PATH search) with the test process's environment
    /// plus `environment`.
    public init(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) throws {
        directory = try TemporaryDirectory.make("process")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, directory + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        #if os(Linux)
        // POSIX_SPAWN_SETSID (glibc): a new session, so that every process of the launch can
        // be found again (OpenMPI gives each rank its own process group).
        posix_spawnattr_setflags(&attributes, 0x80)
        #else
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        #endif

        let environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        started = Date()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(description: "posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
    }

    deinit {
        if rawStatus == nil { kill(pid, SIGKILL); killSession(); var status: Int32 = 0; waitpid(pid, &status, 0) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the program and waits for it, killing it (and its session) past `timeout` seconds.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double
    ) throws -> Result {
        try Subprocess(executable, arguments, environment: environment).wait(timeout: timeout)
    }

    /// What the program has written to stdout so far.
    public var stdout: String { read("stdout") }
    /// What the program has written to stderr so far.
    public var stderr: String { read("stderr") }

    /// Waits until `text` shows on stdout, the program ends, or `seconds` pass; polls every
    /// 2 ms, so that a signal sent next lands within a few milliseconds of the line (the
    /// preemption tests signal right after an epoch's line, while the next pass trains).
    @discardableResult
    public func waitForOutput(_ text: String, seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            guard isRunning else { return stdout.contains(text) }
            usleep(2_000)
        }
        return false
    }

    /// Whether the program (the process started, not its descendants) still runs.
    public var isRunning: Bool { reap(block: false) == nil }

    /// Waits up to `timeout` seconds for the end; past it, SIGTERM, then after `grace`
    /// seconds SIGKILL to everything left in the session.
    public func wait(timeout: Double) -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        var leftovers: [pid_t] = []
        while reap(block: false) == nil {
            if Date() > deadline {
                timedOut = true
                terminate()
                usleep(200_000)
                leftovers = sessionMembers()
                break
            }
            usleep(20_000)
        }
        let seconds = Date().timeIntervalSince(started)
        let status = rawStatus ?? 0
        let signal = status & 0x7F
        return Result(
            status: signal == 0 ? (status >> 8) & 0xFF : signal, reason: signal == 0 ? .exit : .uncaughtSignal,
            stdout: stdout, stderr: stderr, timedOut: timedOut, seconds: seconds, leftovers: leftovers)
    }

    /// The raw wait status once the process has ended (reaped at most once).
    @discardableResult
    private func reap(block: Bool) -> Int32? {
        if let rawStatus { return rawStatus }
        var status: Int32 = 0
        while true {
            let waited = waitpid(pid, &status, block ? 0 : WNOHANG)
            if waited == pid { rawStatus = status; return status }
            if waited < 0 && errno == EINTR { continue }
            if waited < 0 { rawStatus = 0; return 0 }  // not our child any more: nothing to wait for
            return nil
        }
    }

    /// SIGTERM to the program; SIGKILL to the rest of its session once it ends, or to
    /// everything after `grace` seconds.
    private func terminate() {
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(Self.grace)
        while Date() < deadline {
            if reap(block: false) != nil { killSession(); return }
            usleep(50_000)
        }
        killSession()
        kill(pid, SIGKILL)
        reap(block: true)
    }

    private func killSession() {
        #if os(Linux)
        for member in sessionMembers() where member != pid { kill(member, SIGKILL) }
        #else
        killpg(pid, SIGKILL)
        #endif
    }

    /// Live (not zombie) processes of the program's session (Linux; empty elsewhere).
    private func sessionMembers() -> [pid_t] {
        #if os(Linux)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [pid_t] = []
        for entry in entries {
            guard let member = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (comm)": state ppid pgrp session ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 3, pid_t(fields[3]) == pid, fields[0] != "Z" { members.append(member) }
        }
        return members
        #else
        return []
        #endif
    }

    private func read(_ name: String) -> String {
        guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}
