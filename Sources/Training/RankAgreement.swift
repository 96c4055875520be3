import Distributed
import Foundation
import NN
import RunFormat

/// What every rank must share before training starts, compared in ONE fixed-size collective
/// (an allgather of `Identity.words`) before the first collective whose size depends on the
/// model: ranks built with different models then stop with a message instead of failing
/// in the parameter broadcast with a size mismatch (`MPI_ERR_TRUNCATE`).
///
/// Three things are compared, each as a digest:
/// - the configuration: `TrainingConfig`'s JSON (sorted keys) minus the settings that may
///   legitimately differ per rank (`locallyChosen`);
/// - the model's layout: preset, width, and the name and shape of every parameter and buffer;
/// - the training data (`DatasetFingerprint`, the one data identity, also what a resume checks).
///
/// Only when configurations differ does a second collective gather every rank's settings,
/// so that the error names them; every rank sees the same digests, so every rank takes that
/// step or none does, and every rank throws the same `TrainingError.ranksDisagree`.
enum RankAgreement {
    /// Settings a rank may choose for itself: its threads and progress line; the data
    /// directory (its path may differ from host to host; the data's contents are compared
    /// through the fingerprint); the run directory, which only rank 0 writes (its default,
    /// `runs/<time>`, is taken from each rank's own clock and may differ by a second).
    static let locallyChosen = Set([Setting.threads, .progress, .data, .runDir].map(\.key))

    /// One rank's identity: fixed size on every rank, whatever its model or data.
    struct Identity: Equatable {
        var configuration: UInt64
        var layout: UInt64
        var parameters: UInt64
        var tensors: UInt64
        var data: UInt64
        var trainCount: UInt64
        var testCount: UInt64

        static let wordCount = 7

        var words: [UInt64] { [configuration, layout, parameters, tensors, data, trainCount, testCount] }

        init(configuration: UInt64, layout: UInt64, parameters: UInt64, tensors: UInt64, data: UInt64,
             trainCount: UInt64, testCount: UInt64)
        {
            self.configuration = configuration
            self.layout = layout
            self.parameters = parameters
            self.tensors = tensors
            self.data = data
            self.trainCount = trainCount
            self.testCount = testCount
        }

        init?(words: [UInt64]) {
            guard words.count == Self.wordCount else { return nil }
            self.init(
                configuration: words[0], layout: words[1], parameters: words[2], tensors: words[3], data: words[4],
                trainCount: words[5], testCount: words[6])
        }

        init(settings: [String: String], model: Model, preset: ModelPreset, width: Int?, fingerprint: DatasetFingerprint) {
            var config = FNV1a()
            for key in settings.keys.sorted() { config.mix(text: key + "=" + settings[key]! + "\n") }
            var layout = FNV1a()
            layout.mix(text: "\(preset.rawValue) width \(width.map(String.init) ?? "default")\n")
            for (kind, store) in [("parameter", model.parameters), ("buffer", model.buffers)] {
                for entry in store.entries { layout.mix(text: "\(kind) \(entry.name) \(entry.shape)\n") }
            }
            var data = FNV1a()
            data.mix(text: "\(fingerprint.trainCount) \(fingerprint.testCount) \(fingerprint.shape) \(fingerprint.classes) ")
            data.mix(text: fingerprint.digest)
            self.init(
                configuration: config.value, layout: layout.value, parameters: UInt64(model.parameters.count),
                tensors: UInt64(model.parameters.entries.count + model.buffers.entries.count), data: data.value,
                trainCount: UInt64(fingerprint.trainCount), testCount: UInt64(fingerprint.testCount))
        }
    }

    /// The settings that every rank must share, by their key in checkpoints' meta.json, each
    /// value as JSON text.
    static func sharedSettings(_ config: TrainingConfig) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let object = try JSONSerialization.jsonObject(with: encoder.encode(config)) as? [String: Any] else {
            return [:]
        }
        var settings: [String: String] = [:]
        for (key, value) in object where !locallyChosen.contains(key) {
            let text = try JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
            settings[key] = String(decoding: text, as: UTF8.self)
        }
        return settings
    }

    /// Compares this rank's configuration, model layout and data with every other rank's
    /// (a collective: all ranks call it, before the parameter broadcast). Throws
    /// `TrainingError.ranksDisagree`, the same on every rank, when any rank differs from rank 0.
    static func check(
        config: TrainingConfig, model: Model, fingerprint: DatasetFingerprint, communicator: Communicator
    ) throws {
        guard communicator.size > 1 else { return }
        let settings = try sharedSettings(config)
        let mine = Identity(
            settings: settings, model: model, preset: config.model, width: config.width, fingerprint: fingerprint)
        let identities = try communicator.allgathered(mine.words).enumerated().map { rank, words in
            guard let identity = Identity(words: words) else {
                throw TrainingError.ranksDisagree("rank \(rank) sent \(words.count) identity words, expected \(Identity.wordCount)")
            }
            return identity
        }
        let root = identities[0]
        guard identities.contains(where: { $0 != root }) else { return }
        // Every rank holds the same table, so every rank gathers the settings or none does.
        var allSettings: [[String: String]]?
        if identities.contains(where: { $0.configuration != root.configuration }) {
            let text = try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys])
            allSettings = try communicator.allgathered(Array(text)).map {
                (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: String] ?? [:]
            }
        }
        throw TrainingError.ranksDisagree(describe(identities, settings: allSettings))
    }

    /// "rank 1 differs from rank 0 in configuration (lr: 0.2 vs 0.1) and model layout (...)",
    /// one clause per rank that differs.
    static func describe(_ identities: [Identity], settings: [[String: String]]?) -> String {
        let root = identities[0]
        var clauses: [String] = []
        for (rank, identity) in identities.enumerated().dropFirst() where identity != root {
            var differences: [String] = []
            if identity.configuration != root.configuration {
                differences.append("configuration (\(settingDifferences(settings, rank: rank)))")
            }
            if identity.layout != root.layout || identity.parameters != root.parameters || identity.tensors != root.tensors {
                differences.append(
                    "model layout (\(identity.parameters) parameters in \(identity.tensors) tensors vs "
                        + "\(root.parameters) in \(root.tensors))")
            }
            if identity.data != root.data {
                let sizes = identity.trainCount == root.trainCount && identity.testCount == root.testCount
                    ? "same sizes, other contents"
                    : "\(identity.trainCount) train / \(identity.testCount) test instances vs "
                        + "\(root.trainCount) / \(root.testCount)"
                differences.append("data (\(sizes))")
            }
            clauses.append("rank \(rank) differs from rank 0 in " + differences.joined(separator: " and "))
        }
        return clauses.joined(separator: "; ")
    }

    /// The settings in which `rank` differs from rank 0, as "key: its value vs rank 0's".
    private static func settingDifferences(_ settings: [[String: String]]?, rank: Int) -> String {
        guard let settings, settings.count > rank else { return "settings not received" }
        let root = settings[0], other = settings[rank]
        let keys = Set(root.keys).union(other.keys).filter { root[$0] != other[$0] }.sorted()
        guard !keys.isEmpty else { return "settings not received" }
        return keys.map { "\($0): \(other[$0] ?? "unset") vs \(root[$0] ?? "unset")" }.joined(separator: ", ")
    }

    /// Throws `TrainingError.parametersDiffer` when a rank's digest of parameters and buffers
    /// after `epoch` (1-based) differs from rank 0's: the ranks no longer train one model, and
    /// nothing of that epoch may be written.
    static func checkParameters(_ digests: [UInt64], epoch: Int) throws {
        if let rank = digests.indices.first(where: { digests[$0] != digests[0] }) {
            throw TrainingError.parametersDiffer(epoch: epoch, rank: rank)
        }
    }
}

extension FNV1a {
    /// Mixes the UTF-8 bytes of `text`.
    mutating func mix(text: String) {
        var text = text
        text.withUTF8 { mix(bytes: UnsafeRawBufferPointer($0)) }
    }
}
