import CZlib
import Foundation

/// Whole-file reader over zlib's gz* API, which decompresses gzip and passes raw files through unchanged.
enum GzipFile {
    /// Decompressed bytes per `gzread` call; large enough to amortize call overhead on 50 MB files.
    static let chunkSize = 1 << 20

    /// Reads all of `path`, decompressing if it is gzip.
    ///
    /// - Throws: `DatasetError.missingFile`, `.unreadableFile` or `.corruptGzip`.
    static func read(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DatasetError.missingFile(path: path)
        }
        errno = 0
        guard let file = gzopen(path, "rb") else {
            // gzopen sets errno for open failures; 0 means zlib ran out of memory.
            let message = errno != 0 ? String(cString: strerror(errno)) : "zlib could not allocate its state"
            throw DatasetError.unreadableFile(file: path, message: message)
        }
        defer { gzclose(file) }
        // The default 8 KiB input buffer makes decompression noticeably slower.
        _ = gzbuffer(file, 1 << 17)

        var result = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw DatasetError.corruptGzip(file: path, message: errorMessage(file, path: path)) }
            if n == 0 { break }
            chunk.withUnsafeBufferPointer { result.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<Int(n)])) }
        }
        // A gzip stream cut short ends like EOF (gzread returns 0) with
        // Z_BUF_ERROR recorded, so the error state must be checked explicitly.
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK { throw DatasetError.corruptGzip(file: path, message: errorMessage(file, path: path)) }
        return result
    }

    private static func errorMessage(_ file: gzFile, path: String) -> String {
        var code: Int32 = 0
        guard let cMessage = gzerror(file, &code) else { return "zlib error \(code)" }
        var message = String(cString: cMessage)
        // zlib prefixes its message with the path, which the error already names.
        if message.hasPrefix(path + ": ") { message.removeFirst(path.count + 2) }
        return message.isEmpty ? "zlib error \(code)" : message
    }
}
