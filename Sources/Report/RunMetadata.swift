import Foundation

/// What the report shows about a run's setup, taken from the newest checkpoint's
/// `meta.json` (see `CheckpointMeta` in the Training module for the full format).
///
/// Only the keys used here are decoded, each optionally, so a newer or older
/// `meta.json` still loads.
public struct RunMetadata: Decodable, Sendable, Equatable {
    /// Epochs completed when the checkpoint was written.
    public var epoch: Int?
    public var worldSize: Int?
    public var config: Config?
    public var dataset: Dataset?

    public init(epoch: Int? = nil, worldSize: Int? = nil, config: Config? = nil, dataset: Dataset? = nil) {
        self.epoch = epoch
        self.worldSize = worldSize
        self.config = config
        self.dataset = dataset
    }

    enum CodingKeys: String, CodingKey {
        case epoch, worldSize = "world_size", config, dataset
    }

    /// The `config` object: the run's settings.
    public struct Config: Decodable, Sendable, Equatable {
        public var model: String?
        /// Dataset directory.
        public var data: String?
        /// Epochs configured for the whole run.
        public var epochs: Int?
        public var batchSize: Int?
        public var limit: Int?
        public var seed: UInt64?
        public var ies: Mastery?

        public init(model: String? = nil, data: String? = nil, epochs: Int? = nil, batchSize: Int? = nil,
                    limit: Int? = nil, seed: UInt64? = nil, ies: Mastery? = nil) {
            self.model = model
            self.data = data
            self.epochs = epochs
            self.batchSize = batchSize
            self.limit = limit
            self.seed = seed
            self.ies = ies
        }

        enum CodingKeys: String, CodingKey {
            case model, data, epochs, batchSize = "batch_size", limit, seed, ies
        }
    }

    /// The IES rule (`config.ies`); threshold 0 means IES was off.
    public struct Mastery: Decodable, Sendable, Equatable {
        public var threshold: Double?
        public var window: Int?
        public var k: Int?

        public init(threshold: Double? = nil, window: Int? = nil, k: Int? = nil) {
            self.threshold = threshold
            self.window = window
            self.k = k
        }
    }

    /// The `dataset` fingerprint: sizes of the training data.
    public struct Dataset: Decodable, Sendable, Equatable {
        public var trainCount: Int?
        public var classes: Int?

        enum CodingKeys: String, CodingKey {
            case trainCount = "train_count", classes
        }
    }
}
