import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a run directory (`RUN/.lock`, flock): two trainings never write
/// into one run at once. The kernel drops it when the process ends, however it ends, so a
/// crashed run leaves no stale lock. The file names the holder (pid and host) for the
/// message a second training gets.
public final class RunLock {
    public static let file = ".lock"

    private let descriptor: Int32
    public let path: String

    /// Takes the lock of `run` or throws naming who holds it.
    public init(_ run: RunDirectory) throws {
        path = run.file(Self.file)
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RunFormatError.io(path: path, message: "cannot create the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw RunFormatError.io(
                path: run.path,
                message: "another training is writing into this run directory"
                    + (holder.isEmpty ? "" : " (\(holder))") + "; wait for it to end or choose another --run-dir")
        }
        let holder = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(descriptor, 0)
        _ = holder.withCString { write(descriptor, $0, strlen($0)) }
    }

    deinit {
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
