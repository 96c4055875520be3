import Foundation
import XCTest

/// A scratch directory for building (often malformed) dataset files at test time.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("ies-datasets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Full path of `name` inside the directory.
    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: file(name))
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    /// Copies every file of the fixture set `set` (e.g. "idx-raw") into this directory.
    func copyFixtureSet(_ set: String) throws {
        let source = Fixtures.directory(set)
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: file(name))
        }
    }

    func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: file(name)) }
}
