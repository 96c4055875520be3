import Foundation

/// A fresh empty directory under the system temporary directory, named
/// `ies-<label>-<UUID>` so that no two tests (or concurrent test runs) share one.
///
/// The object removes its directory when it goes away (hold it in the test, or drop it
/// at tearDown); `make` hands out a bare path that the caller removes.
///
///     let directory = try TemporaryDirectory("checkpoints")
///     try directory.write("bad.idx", [0, 0, 8, 3])
///     // removed when `directory` goes out of scope
public final class TemporaryDirectory {
    public let path: String

    public init(_ label: String = "tests") throws {
        path = try Self.make(label)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Creates a directory named after `label` (letters and digits only; the calling
    /// function by default) and returns its path; the caller removes it.
    public static func make(_ label: String = #function) throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(
            "ies-\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Full path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Writes `bytes` to `name`, creating the directories on its path.
    public func write(_ name: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: file(name))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    public func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: file(name)) }
}
