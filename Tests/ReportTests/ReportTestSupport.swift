import Foundation
import XCTest

/// Fixture runs and the metrics they hold (scratch directories, built products, external
/// programs and the rule for missing ones come from TestSupport).
enum ReportTestSupport {
    /// A fixture run directory (`mlp-1rank`: one rank; `mlp-2ranks`: two ranks, class sharding).
    static func fixture(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the Fixtures resource is missing from the test bundle")
        }
        return url.appendingPathComponent(name).path
    }

    /// Copies a fixture run (metrics.jsonl and checkpoints' meta.json) into a scratch directory.
    static func copyFixture(_ name: String, to directory: String) throws -> String {
        let destination = (directory as NSString).appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: fixture(name), toPath: destination)
        return destination
    }

    /// The metrics.jsonl lines of a run as dictionaries (the ground truth the tests compare against).
    static func metricsObjects(_ runDirectory: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// A metrics line with `fields` over a record whose required figures are zero: what a
    /// test states is what the line says; the rest is there only to make it a record.
    static func record(_ fields: String) throws -> String {
        let base = #"{"epoch":1,"lr":0.1,"trained":0,"probed":0,"mastered":0,"returned":0,"backprop_saved":0,"#
            + #""train_loss":0,"train_accuracy":0,"test_loss":0,"test_accuracy":0,"seconds":0}"#
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any])
        let given = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(fields.utf8)) as? [String: Any], fields)
        object.merge(given) { $1 }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
