#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way `ies` writes files: every POSIX call checked, data fsynced before it is
/// trusted, and replacement atomic, so that a crash never leaves a half-written file under
/// the final name (checkpoints, model files, metrics, reports).
public enum DurableFile {
    /// Writes `bytes` to `path.tmp`, fsyncs it, renames it over `path` and fsyncs the directory.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        try writeInPlace(bytes, to: temporary)
        guard rename(temporary, path) == 0 else {
            let code = errno
            _ = unlink(temporary)
            throw FileError(path: path, operation: "rename from \(temporary)", errno: code)
        }
        try syncDirectory(containing: path)
    }

    /// Creates or truncates `path`, writes `bytes`, fsyncs and closes it; no rename (for files
    /// inside a directory that is itself renamed into place).
    public static func writeInPlace(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        var closed = false
        defer { if !closed { _ = close(fd) } }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "write", errno: errno)
            }
            if n == 0 { throw FileError(path: path, operation: "write", errno: EIO) }
            written += n
        }
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync", errno: errno) }
        closed = true
        guard close(fd) == 0 else { throw FileError(path: path, operation: "close", errno: errno) }
    }

    /// fsync of the directory holding `path`, so that a rename in it survives a crash.
    public static func syncDirectory(containing path: String) throws {
        var directory = path
        if let slash = directory.lastIndex(of: "/") {
            directory = String(directory[..<slash])
            if directory.isEmpty { directory = "/" }
        } else {
            directory = "."
        }
        try syncDirectory(directory)
    }

    /// fsync of `directory` itself.
    public static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: directory, operation: "open", errno: errno) }
        defer { _ = close(fd) }
        guard fsync(fd) == 0 else { throw FileError(path: directory, operation: "fsync", errno: errno) }
    }

    /// The complete contents of `path`.
    public static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        var closed = false
        defer { if !closed { _ = close(fd) } }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, operation: "fstat", errno: errno) }
        var buffer = [UInt8](repeating: 0, count: max(Int(info.st_size), 0))
        var filled = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n: Int
            if filled < buffer.count {
                n = buffer.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress! + filled, $0.count - filled) }
            } else {
                // The file may have grown since fstat; keep reading until EOF.
                n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress!, $0.count) }
                if n > 0 { buffer.append(contentsOf: chunk[0..<n]) }
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            filled += n
        }
        if filled < buffer.count { buffer.removeSubrange(filled...) }
        closed = true
        guard close(fd) == 0 else { throw FileError(path: path, operation: "close", errno: errno) }
        return buffer
    }
}

/// A failed file operation: which file, which call, and the system's reason.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    /// The call that failed (`open`, `write`, `fsync`, `rename from X`, ...).
    public let operation: String
    public let errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    /// E.g. "runs/a/metrics.jsonl: open failed: No such file or directory (errno 2)".
    public var description: String {
        let reason = strerror(errno).map { String(cString: $0) } ?? "unknown error"
        return "\(path): \(operation) failed: \(reason) (errno \(errno))"
    }
}

// `read`/`write` could be shadowed by members of that name; these name the C functions.
@inline(__always)
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}

@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
