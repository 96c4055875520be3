import Foundation

/// A whole file memory-mapped read-only: its bytes are paged in only where they are read,
/// so a rank that copies its shard out of a large file touches only that shard's pages.
/// Unmapped when the last reference goes.
final class MappedFile {
    let path: String
    /// The file's bytes (empty for an empty file).
    let bytes: UnsafeRawBufferPointer

    /// Maps `path`.
    ///
    /// - Throws: `DatasetError.missingFile` or `.unreadableFile` (naming the failing call's reason).
    init(_ path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw DatasetError.missingFile(path: path) }
            throw DatasetError.unreadableFile(file: path, message: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw DatasetError.unreadableFile(file: path, message: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT != S_IFDIR else { throw DatasetError.missingFile(path: path) }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw DatasetError.unreadableFile(file: path, message: "mmap: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// Gives back the pages read so far: they leave this process's resident set (the page
    /// cache keeps them for other ranks on the node), so copying a shard out costs the copy,
    /// not the copy and the mapped pages too.
    func releasePages() {
        guard let base = bytes.baseAddress else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, MADV_DONTNEED)
    }

    /// Whether the file starts with the gzip magic bytes (then it cannot be read by offset).
    var isGzip: Bool { bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }
}
