import Foundation
import XCTest
import Datasets
import Distributed
import Mastery
import NN
import Report
import Training

/// The table of settings (`Setting.all`) against what is made from it and what documents it:
/// meta.json's bytes, `ies train --help`, the README's flag table and its resume sentence.
final class SettingsTableTests: XCTestCase {
    // MARK: meta.json

    /// A configuration with every optional set, as meta.json held it when TrainingConfig's
    /// Codable was synthesized from CodingKeys: the table must encode the same bytes.
    func testEncodingKeepsTheBytesOfEarlierCheckpoints() throws {
        XCTAssertEqual(try encoded(Self.everythingSet), Self.everythingSetJSON)
        XCTAssertEqual(try encoded(TrainingConfig(runDirectory: "runs/x")), Self.defaultsJSON)
    }

    func testDecodingRestoresEveryValue() throws {
        let decoder = JSONDecoder()
        XCTAssertEqual(try decoder.decode(TrainingConfig.self, from: Data(Self.everythingSetJSON.utf8)), Self.everythingSet)
        XCTAssertEqual(
            try decoder.decode(TrainingConfig.self, from: Data(Self.defaultsJSON.utf8)), TrainingConfig(runDirectory: "runs/x"))
        // A key a checkpoint lacks (written before the setting existed) takes the default;
        // a key present wins; the run directory is required.
        let nine = Self.everythingSetJSON.replacingOccurrences(of: "\"epochs\" : 5,", with: "\"epochs\" : 9,")
        XCTAssertEqual(try decoder.decode(TrainingConfig.self, from: Data(nine.utf8)).epochs, 9)
        var withoutEpochs = Self.everythingSetJSON.replacingOccurrences(of: "\"epochs\" : 5,", with: "")
        XCTAssertNotEqual(withoutEpochs, Self.everythingSetJSON, "the fixture's epochs changed: update this test")
        XCTAssertEqual(try decoder.decode(TrainingConfig.self, from: Data(withoutEpochs.utf8)), Self.everythingSet)
        withoutEpochs = Self.defaultsJSON.replacingOccurrences(of: "\"run_dir\" : \"runs/x\",", with: "")
        XCTAssertThrowsError(try decoder.decode(TrainingConfig.self, from: Data(withoutEpochs.utf8)))
    }

    /// The report reads a few settings from meta.json by key; the table owns the keys.
    func testTheReportReadsKeysOfTheTable() {
        let keys = Set(Setting.all.map(\.key))
        for key in SettingsKeys.all { XCTAssertTrue(keys.contains(key), "the report reads \(key), which no setting writes") }
    }

    /// Every stored property of TrainingConfig has an entry (else it would be missing from meta.json).
    func testEveryPropertyHasAnEntry() throws {
        let properties = Mirror(reflecting: Self.everythingSet).children.count
        let keys = try JSONSerialization.jsonObject(with: Data(Self.everythingSetJSON.utf8)) as! [String: Any]
        XCTAssertEqual(keys.count, properties, "a TrainingConfig property without an entry in Setting.all")
        let entries = Setting.all.filter { !$0.key.contains(".") }
        XCTAssertEqual(Set(entries.map(\.key)), Set(keys.keys))
        XCTAssertEqual(Set(Setting.all.map(\.key)).count, Setting.all.count, "a key used twice")
        XCTAssertEqual(Set(Setting.all.compactMap(\.flag)).count, Setting.all.compactMap(\.flag).count, "a flag used twice")
    }

    // MARK: Resume and errors

    func testResumeRefusesFixedSettingsAndNamesTheValueWithoutOptional() throws {
        var checkpoint = TrainingConfig(runDirectory: "runs/x")
        checkpoint.width = 4
        checkpoint.model = .resnet18
        var config = checkpoint.resumed()
        XCTAssertThrowsError(try config.set(.width, to: 8, resumingFrom: "ck")) { error in
            let error = error as! ConfigurationError
            XCTAssertEqual(error.setting, .width)
            XCTAssertEqual(
                error.problem,
                "differs from the checkpoint ck (4); a resumed run keeps its settings: drop --width or start a new run")
        }
        XCTAssertNoThrow(try config.set(.width, to: 4, resumingFrom: "ck"))
        XCTAssertNoThrow(try config.set(.epochs, to: 9, resumingFrom: "ck"))
        XCTAssertEqual(config.epochs, 9)
        XCTAssertThrowsError(try config.set(.ies, to: try MasteryRule(threshold: 0, window: 3, k: 1), resumingFrom: "ck")) {
            XCTAssertTrue("\($0)".hasPrefix("ies differs"), "\($0)")
            XCTAssertEqual("\(($0 as! ConfigurationError).setting)", "--ies-threshold/--ies-window/--ies-k")
        }
        // Per-run settings come from the resumed run's own command line, not the checkpoint.
        checkpoint.threads = 3
        checkpoint.showProgress = false
        XCTAssertNil(checkpoint.resumed().threads)
        XCTAssertTrue(checkpoint.resumed().showProgress)
    }

    func testValidationErrorsNameTheirSetting() {
        var config = TrainingConfig(runDirectory: "runs/x")
        config.keepCheckpoints = 0
        XCTAssertThrowsError(try config.validate()) { XCTAssertEqual(($0 as! ConfigurationError).setting.flag, "--keep") }
        for field in [MasteryRule.Field.threshold, .window, .k] {
            XCTAssertEqual(Setting.ies(field).flag, "--ies-\(field.rawValue)")
            XCTAssertEqual(Setting.ies(field).resume, Setting.ies.resume)
        }
    }

    // MARK: Documents

    /// `ies train --help` shows every flag of the table with its default, and says which
    /// flags may change on resume.
    func testHelpShowsEveryFlagWithItsDefault() throws {
        let help = try Self.trainHelp()
        let options = Self.optionBlocks(help)
        for setting in Setting.all {
            guard let flag = setting.flag else { continue }
            guard let block = options[flag] else {
                XCTFail("ies train --help lacks \(flag)")
                continue
            }
            if let shown = setting.defaultText {
                XCTAssertTrue(block.contains("(default: \(shown))"), "\(flag): \(block)")
            } else {
                XCTAssertFalse(block.contains("(default:"), "\(flag): \(block)")
            }
        }
        let flat = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let mayChange = Setting.flagsThatMayChangeOnResume
        let list = mayChange.dropLast().joined(separator: ", ") + " and " + mayChange.last!
        XCTAssertTrue(flat.contains("only \(list) may change."), flat)
    }

    /// README's table under "## Training" lists exactly the flags of `ies train --help`, and
    /// each setting's default as the table renders it.
    func testReadmeFlagTableMatchesTheTable() throws {
        let rows = try Self.readmeFlagRows()
        let readmeFlags = Set(rows.map(\.flag))
        XCTAssertEqual(readmeFlags.count, rows.count, "a flag listed twice in the README")
        let tableFlags = Set(Setting.all.compactMap(\.flag))
        XCTAssertEqual(tableFlags.subtracting(readmeFlags), [], "flags missing from README.md's table")
        let helpFlags = Set(Self.optionBlocks(try Self.trainHelp()).keys).subtracting(["--help"])
        XCTAssertEqual(readmeFlags.subtracting(helpFlags), [], "README.md lists flags that ies train does not have")
        XCTAssertEqual(helpFlags.subtracting(readmeFlags), [], "ies train flags missing from README.md's table")
        for row in rows {
            guard let setting = Setting.all.first(where: { $0.flag == row.flag }) else { continue }
            XCTAssertEqual(row.defaultText, setting.defaultText ?? "", "README.md's default of \(row.flag)")
        }
    }

    /// README's resume paragraph lists the flags that may change on resume.
    func testReadmeResumeSentenceMatchesTheTable() throws {
        let readme = try String(contentsOfFile: Self.readmePath, encoding: .utf8)
        let flat = readme.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        // The nearest "is refused; " before " may change": other paragraphs refuse things too.
        guard let mayChange = flat.range(of: " may change"),
            let refused = flat.range(of: "is refused; ", options: .backwards, range: flat.startIndex..<mayChange.lowerBound)
        else { return XCTFail("README.md lacks \"... is refused; FLAGS may change\"") }
        let sentence = flat[refused.upperBound..<mayChange.lowerBound]
        let flags = sentence.split(separator: "`").filter { $0.hasPrefix("--") }.map(String.init)
        XCTAssertEqual(flags, Setting.flagsThatMayChangeOnResume)
    }

    // MARK: Helpers

    static let readmePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md").path

    /// The rows of the `| flag | default | meaning |` table under "## Training": the flag
    /// (its first word) and the default without backticks.
    static func readmeFlagRows() throws -> [(flag: String, defaultText: String)] {
        let readme = try String(contentsOfFile: readmePath, encoding: .utf8)
        let lines = readme.components(separatedBy: "\n")
        guard let section = lines.firstIndex(of: "## Training"),
            let header = lines[section...].firstIndex(of: "| flag | default | meaning |")
        else { throw XCTSkip("README.md has no flag table under ## Training") }
        var rows: [(String, String)] = []
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("|") else { break }
            let cells = line.replacingOccurrences(of: "\\|", with: "/").split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
            rows.append((String(cells[1].split(separator: " ")[0]), cells[2]))
        }
        return rows
    }

    static func trainHelp() throws -> String {
        let result = try Fixtures.runIES(["train", "--help"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    /// The OPTIONS section of a help text: each long flag with its help, whitespace collapsed.
    static func optionBlocks(_ help: String) -> [String: String] {
        var blocks: [String: String] = [:]
        var current: String?
        for line in help.components(separatedBy: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("  -") {
                let flag = trimmed.split(whereSeparator: { $0 == " " || $0 == "," }).first { $0.hasPrefix("--") }
                current = flag.map(String.init)
                if let current { blocks[current] = trimmed }
            } else if let current, !trimmed.isEmpty, line.hasPrefix("   ") {
                blocks[current]! += " " + trimmed
            } else {
                current = nil
            }
        }
        return blocks.mapValues { $0.split(separator: " ").joined(separator: " ") }
    }

    private func encoded(_ config: TrainingConfig) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]  // as CheckpointMeta does
        return String(decoding: try encoder.encode(config), as: UTF8.self)
    }

    static let everythingSet: TrainingConfig = {
        var config = TrainingConfig(runDirectory: "runs/x")
        config.width = 32
        config.batchSizePerRank = 16
        config.augmentation = .cropFlip
        config.limit = 100
        config.testLimit = 50
        config.threads = 2
        config.allreduceFormat = .bfloat16
        config.tensorboardDirectory = "tb"
        config.probe = .spaced(maxInterval: 4)
        config.overlap = true
        return config
    }()

    static let everythingSetJSON = """
        {
          "allreduce_dtype" : "bf16",
          "augment" : "crop-flip",
          "batch_size" : 64,
          "batch_size_per_rank" : 16,
          "bucket_mb" : 1,
          "checkpoint_every" : 1,
          "data" : "/usr/share/datasets/fashion-mnist",
          "epochs" : 5,
          "evaluation_batch_size" : 256,
          "ies" : {
            "k" : 1,
            "threshold" : 0.001,
            "window" : 3
          },
          "keep" : 3,
          "limit" : 100,
          "lr" : 0.1,
          "lr_reference_batch" : 64,
          "lr_scaling" : "none",
          "lr_schedule" : "exponential:0.96",
          "model" : "cnn",
          "momentum" : 0.9,
          "npy_layout" : "auto",
          "optimizer" : "sgd",
          "overlap" : true,
          "probe" : "spaced:4",
          "progress" : true,
          "rebalance" : true,
          "rebalance_tolerance" : 0.05,
          "run_dir" : "runs/x",
          "seed" : 0,
          "shard_by" : "contiguous",
          "stall_timeout" : 300,
          "sync_bn" : false,
          "tensorboard" : "tb",
          "test_limit" : 50,
          "threads" : 2,
          "warmup_epochs" : 0,
          "weight_decay" : 0.0005,
          "width" : 32
        }
        """

    static let defaultsJSON = """
        {
          "batch_size" : 64,
          "bucket_mb" : 1,
          "checkpoint_every" : 1,
          "data" : "/usr/share/datasets/fashion-mnist",
          "epochs" : 5,
          "evaluation_batch_size" : 256,
          "ies" : {
            "k" : 1,
            "threshold" : 0.001,
            "window" : 3
          },
          "keep" : 3,
          "lr" : 0.1,
          "lr_reference_batch" : 64,
          "lr_scaling" : "none",
          "lr_schedule" : "exponential:0.96",
          "model" : "cnn",
          "momentum" : 0.9,
          "npy_layout" : "auto",
          "optimizer" : "sgd",
          "probe" : "every",
          "progress" : true,
          "rebalance" : true,
          "rebalance_tolerance" : 0.05,
          "run_dir" : "runs/x",
          "seed" : 0,
          "shard_by" : "contiguous",
          "stall_timeout" : 300,
          "sync_bn" : false,
          "warmup_epochs" : 0,
          "weight_decay" : 0.0005
        }
        """
}
