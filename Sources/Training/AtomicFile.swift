import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that a crash never leaves a half-written file under the final name:
/// write `path.tmp`, fsync it, rename over `path`, fsync the directory.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        try writeSynced(bytes, to: temporary)
        guard rename(temporary, path) == 0 else {
            throw TrainingError.io(path: path, message: "rename from \(temporary) failed: \(errnoText())")
        }
        try syncDirectory(of: path)
    }

    /// Writes `path` in place, fsyncs and closes it (every call checked); no rename.
    public static func writeSynced(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TrainingError.io(path: path, message: "cannot create: \(errnoText())") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let message = errnoText()
                close(fd)
                throw TrainingError.io(path: path, message: "write failed: \(message)")
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let message = errnoText()
            close(fd)
            throw TrainingError.io(path: path, message: "fsync failed: \(message)")
        }
        guard close(fd) == 0 else { throw TrainingError.io(path: path, message: "close failed: \(errnoText())") }
    }

    /// fsync of the directory holding `path`, so that a rename survives a crash.
    public static func syncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw TrainingError.io(path: directory, message: "cannot open: \(errnoText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw TrainingError.io(path: directory, message: "fsync failed: \(errnoText())") }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
