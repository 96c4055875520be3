import Datasets
import Distributed
import Mastery
import NN

/// One setting of a training run: the key of its value in a checkpoint's meta.json, its
/// command-line flag, what it means, its default and whether a resumed run may change it.
///
/// `Setting.all` is the one table of settings. Everything else is made from it:
/// `TrainingConfig`'s Codable (meta.json), `ies train`'s option names and help, the help's
/// and the README's list of what may change on `--resume`, the resume check
/// (`TrainingConfig.set(_:to:resumingFrom:)`) and the flag a `ConfigurationError` names.
/// Defaults live in one place only, `TrainingConfig`'s property initializers; an entry
/// renders its default from them unless the default depends on other settings.
///
///     let lr = Setting.lr              // key "lr", flag "--lr", default "0.1"
///     try config.set(.lr, to: 0.05)
public struct Setting: Sendable, Hashable, CustomStringConvertible {
    /// Whether a resumed run may change a setting.
    public enum Resume: Sendable {
        /// It determines the result: a resumed run keeps the checkpoint's value, and a flag
        /// giving another value is refused.
        case fixed
        /// The flag, when given, replaces the checkpoint's value. Most do not change the result;
        /// those that do (rebalancing with several ranks, `--epochs` under a schedule relative to
        /// the run's length) get a warning on resume (`Trainer.resultChangingEdits`).
        case mayChange
        /// It belongs to the machine or the terminal, not to the run: a resumed run takes it
        /// from its own command line, else the default (not from the checkpoint).
        case perRun
    }

    /// How an entry's default is shown.
    enum Default {
        /// The default `TrainingConfig`'s value (none shown when that is nil).
        case value
        /// Words, for a default that depends on other settings or on the machine.
        case text(String)
        /// Nothing shown (e.g. `--no-progress`, whose absence is the default).
        case none
    }

    /// The key in a checkpoint's meta.json ("lr"); a part of another setting's value is
    /// dotted ("ies.threshold").
    public let key: String
    /// The long flag without its dashes ("lr"); nil when the command line does not set it.
    public let name: String?
    /// What it means, one paragraph (without the default).
    public let help: String
    public let resume: Resume
    /// The default as `ies train --help` and the README show it; nil: none shown.
    public let defaultText: String?
    /// The `TrainingConfig` property holding it; nil for a part of another setting's value.
    let property: Property?

    /// `--name`, or nil when the command line does not set it.
    public var flag: String? { name.map { "--" + $0 } }

    /// How a user knows it: its flag, its parts' flags ("--ies-threshold/--ies-window/--ies-k"),
    /// or, when the command line cannot set it, its key.
    public var description: String {
        if let flag { return flag }
        let parts = Setting.all.filter { $0.key.hasPrefix(key + ".") }.compactMap(\.flag)
        return parts.isEmpty ? key : parts.joined(separator: "/")
    }

    public static func == (a: Setting, b: Setting) -> Bool { a.key == b.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }

    /// The flags a resumed run may give with another value than the checkpoint's, in table order.
    public static var flagsThatMayChangeOnResume: [String] {
        all.filter { $0.resume != .fixed }.compactMap(\.flag)
    }

    /// The entry of a part of the IES rule (`MasteryError.invalidRule` names the part).
    public static func ies(_ field: MasteryRule.Field) -> Setting {
        switch field {
        case .threshold: return iesThreshold
        case .window: return iesWindow
        case .k: return iesK
        }
    }

    /// A value as messages, the help and the README show it: no `Optional(...)`, enums by
    /// their raw value, switches as on/off, whole numbers without ".0"; nil: nil.
    static func text(_ value: Any) -> String? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional { return mirror.children.first.flatMap { text($0.value) } }
        switch value {
        case let value as Bool: return value ? "on" : "off"
        case let value as Double where value.rounded() == value && abs(value) < 1e15: return String(Int(value))
        case let value as any RawRepresentable: return "\(value.rawValue)"
        default: return "\(value)"
        }
    }

    /// The configuration whose values are the defaults (the run directory aside).
    static let defaults = TrainingConfig(runDirectory: "")
}

// MARK: - The table

extension Setting {
    /// Every setting, in the order of `ies train --help`.
    public static let all: [Setting] = [
        data, npyLayout, model, width, syncBn, epochs, batchSize, batchSizePerRank, lrScaling, lrReferenceBatch, lr,
        optimizer, momentum, weightDecay, lrSchedule, warmupEpochs, augment, seed, limit, testLimit, threads,
        shardBy, ies, iesThreshold, iesWindow, iesK, probe, checkpointEvery, keep, rebalance, rebalanceTolerance,
        runDir, stallTimeout, overlap, bucketMb, allreduceDtype, tensorboard, progress, evaluationBatchSize,
    ]

    public static let data = Setting(
        \.dataDirectory, key: "data", name: "data",
        help: "Dataset directory: IDX files (train-images-idx3-ubyte[.gz], ...), CIFAR-10/100 binary or NumPy "
            + "(train_images.npy, train_labels.npy, test_images.npy, test_labels.npy).")
    public static let npyLayout = Setting(
        \.npyLayout, key: "npy_layout", name: "npy-layout",
        help: "NumPy 4-D images: auto ((N,H,W,C) when the last dimension is 1, 3 or 4, else (N,C,H,W) when the "
            + "second is), nhwc or nchw.")
    public static let model = Setting(
        \.model, key: "model", name: "model",
        help: "Model preset: mlp, cnn, resnet18, resnet34, resnet50 or vgg16.")
    public static let width = Setting(
        \.width, key: "width", name: "width", default: .text("\(ModelPreset.defaultWidth)"),
        help: "ResNets: channels of the first stage (the stages use W, 2W, 4W, 8W).")
    public static let syncBn = Setting(
        \.syncBatchNorm, key: "sync_bn", name: "sync-bn",
        help: "Under mpirun: BatchNorm normalizes with the statistics of the global batch (all ranks), like "
            + "PyTorch's SyncBatchNorm, instead of each rank's own.")
    public static let epochs = Setting(
        \.epochs, key: "epochs", name: "epochs", resume: .mayChange,
        help: "Number of epochs in the whole run (a resumed run continues up to it).")
    public static let batchSize = Setting(
        \.batchSize, key: "batch_size", name: "batch-size",
        help: "Global batch size: instances per optimizer step over all ranks.")
    public static let batchSizePerRank = Setting(
        \.batchSizePerRank, key: "batch_size_per_rank", name: "batch-size-per-rank",
        help: "Instances per step on each rank instead: the global batch is this times the number of ranks "
            + "(for scaling out).")
    public static let lrScaling = Setting(
        \.lrScaling, key: "lr_scaling", name: "lr-scaling",
        help: "Scale the learning rate with the global batch G: none, linear (lr x G/ref, Goyal et al. 2017) "
            + "or sqrt (lr x sqrt(G/ref)); combine with --warmup-epochs.")
    public static let lrReferenceBatch = Setting(
        \.lrReferenceBatch, key: "lr_reference_batch", name: "lr-reference-batch",
        help: "The global batch ref at which --lr applies unscaled.")
    public static let lr = Setting(\.learningRate, key: "lr", name: "lr", help: "Base learning rate.")
    public static let optimizer = Setting(
        \.optimizer, key: "optimizer", name: "optimizer",
        help: "Optimizer: sgd, adam or adamw (PyTorch semantics; Adam's betas 0.9/0.999, eps 1e-8).")
    public static let momentum = Setting(
        \.momentum, key: "momentum", name: "momentum", help: "SGD momentum, in [0, 1); Adam and AdamW ignore it.")
    public static let weightDecay = Setting(
        \.weightDecay, key: "weight_decay", name: "weight-decay",
        help: "Weight decay: added to the gradient for sgd and adam (L2), decoupled for adamw, as in PyTorch.")
    public static let lrSchedule = Setting(
        \.schedule, key: "lr_schedule", name: "lr-schedule",
        help: "Per-epoch schedule: constant, exponential:GAMMA, step:SIZE:GAMMA, linear:START:END, cosine[:MIN_LR].")
    public static let warmupEpochs = Setting(
        \.warmupEpochs, key: "warmup_epochs", name: "warmup-epochs",
        help: "Epochs of linear learning-rate warm-up (lr x (e + 1) / N) before the schedule starts.")
    public static let augment = Setting(
        \.augmentation, key: "augment", name: "augment",
        default: .text("crop-flip for resnets and vgg16, none for mlp and cnn"),
        help: "Training-time augmentation: none, or crop-flip (random 4-pixel-padded crop and horizontal flip, "
            + "a function of seed, epoch and instance).")
    public static let seed = Setting(
        \.seed, key: "seed", name: "seed", help: "Random seed (initialization and shuffling).")
    public static let limit = Setting(
        \.limit, key: "limit", name: "limit", default: .text("all"), help: "Use only the first N training instances.")
    public static let testLimit = Setting(
        \.testLimit, key: "test_limit", name: "test-limit", default: .text("all"),
        help: "Evaluate on the first N test instances only (quick experiments).")
    public static let threads = Setting(
        \.threads, key: "threads", name: "threads", resume: .perRun,
        default: .text("the CPUs the rank may run on, divided by the ranks of its node sharing them"),
        help: "Compute threads per rank (NN kernels; OpenBLAS runs single-threaded inside them).")
    public static let shardBy = Setting(
        \.sharding, key: "shard_by", name: "shard-by",
        help: "How training instances are split across ranks: contiguous (blocks of ids) or class "
            + "(whole classes per rank).")
    /// The IES rule; the command line gives it in parts (`iesThreshold`, `iesWindow`, `iesK`).
    public static let ies = Setting(
        \.mastery, key: "ies", name: nil, help: "Instance-dependent early stopping: the mastery rule.")
    public static let iesThreshold = Setting(
        part: .threshold, of: ies, value: \.threshold,
        help: "IES: an instance is mastered when the sum of its last k moving averages of |d2 loss| is below "
            + "this; 0 disables IES.")
    public static let iesWindow = Setting(
        part: .window, of: ies, value: \.window, help: "IES: d2 values in each moving average.")
    public static let iesK = Setting(part: .k, of: ies, value: \.k, help: "IES: moving averages summed.")
    public static let probe = Setting(
        \.probe, key: "probe", name: "probe",
        help: "IES: when mastered instances are probed (a forward pass that lets their loss bring them back): "
            + "every (each epoch, as in the paper), or spaced[:M] (1, 2, 4, ... epochs apart after mastery, "
            + "at most M, default 8; a probe whose loss moved returns the instance at once).")
    public static let checkpointEvery = Setting(
        \.checkpointEvery, key: "checkpoint_every", name: "checkpoint-every", resume: .mayChange,
        help: "Write a checkpoint every E epochs, and after the last; 0: only after the last.")
    public static let keep = Setting(
        \.keepCheckpoints, key: "keep", name: "keep", resume: .mayChange, help: "Checkpoints to keep (the newest).")
    public static let rebalance = Setting(
        \.rebalance, key: "rebalance", name: "rebalance", resume: .mayChange,
        help: "Move instances between ranks when unmastered or mastered counts become uneven: on or off.")
    public static let rebalanceTolerance = Setting(
        \.rebalanceTolerance, key: "rebalance_tolerance", name: "rebalance-tolerance", resume: .mayChange,
        help: "Rebalance when max/mean of the per-rank counts exceeds 1 + this.")
    public static let runDir = Setting(
        \.runDirectory, key: "run_dir", name: "run-dir", resume: .mayChange,
        default: .text("\(TrainingConfig.defaultRunDirectoryPattern); when resuming, the checkpoint's run directory"),
        help: "Run directory for metrics.jsonl, checkpoints/ and model.safetensors.")
    public static let stallTimeout = Setting(
        \.stallTimeout, key: "stall_timeout", name: "stall-timeout", resume: .mayChange,
        help: "Under mpirun: end the job when a rank has waited this many seconds for the others (a stopped "
            + "process, a dead link), naming the ranks and hosts that did not arrive; 0 waits forever.")
    public static let overlap = Setting(
        \.overlap, key: "overlap", name: "overlap", resume: .mayChange,
        default: .text("on when the ranks span several hosts, off when they all share one"),
        help: "Under mpirun: reduce the gradient buckets while backward runs (on) or after it (off); the same "
            + "result either way.")
    public static let bucketMb = Setting(
        \.bucketMegabytes, key: "bucket_mb", name: "bucket-mb",
        help: "Size of a gradient bucket, in MiB. On 3 or more ranks it decides how the gradient sums round "
            + "(MPI adds in an order that depends on an element's place in its bucket), so a resumed run keeps it.")
    public static let allreduceDtype = Setting(
        \.allreduceFormat, key: "allreduce_dtype", name: "allreduce-dtype", default: .text("fp32"),
        help: "Under mpirun: send gradients as bf16 or fp16 (half the bytes of fp32; each sum is rounded to that "
            + "format; the counts stay exact). Changes results: measure the accuracy.")
    public static let tensorboard = Setting(
        \.tensorboardDirectory, key: "tensorboard", name: "tensorboard", resume: .mayChange,
        help: "Also write TensorBoard event files of the per-epoch scalars into this directory (rank 0); view "
            + "with `tensorboard --logdir DIR`.")
    public static let progress = Setting(
        \.showProgress, key: "progress", name: "no-progress", resume: .perRun, default: .none,
        help: "Do not draw the progress line within epochs.")
    public static let evaluationBatchSize = Setting(
        \.evaluationBatchSize, key: "evaluation_batch_size", name: nil,
        help: "Batch size of evaluation and probes (forward only) of the mlp and cnn.")
}

// MARK: - Making entries

extension Setting {
    /// An entry for a property of `TrainingConfig` (`key` must be new: it names the value in meta.json).
    init<Value: Codable & Equatable>(
        _ keyPath: WritableKeyPath<TrainingConfig, Value>, key: String, name: String?, resume: Resume = .fixed,
        default shown: Default = .value, help: String
    ) {
        self.init(
            key: key, name: name, help: help, resume: resume,
            defaultText: Setting.render(shown, Setting.defaults[keyPath: keyPath]),
            property: Property(keyPath, key: key))
    }

    /// An entry for an optional property: absent from meta.json while nil (as Codable synthesizes).
    init<Value: Codable & Equatable>(
        _ keyPath: WritableKeyPath<TrainingConfig, Value?>, key: String, name: String?, resume: Resume = .fixed,
        default shown: Default = .value, help: String
    ) {
        self.init(
            key: key, name: name, help: help, resume: resume,
            defaultText: Setting.render(shown, Setting.defaults[keyPath: keyPath] as Any),
            property: Property(optional: keyPath, key: key))
    }

    /// An entry for a part of the IES rule, set on the command line by its own flag
    /// ("ies-threshold"); it is stored, and kept on resume, as its whole (`ies`).
    init<Value>(part: MasteryRule.Field, of whole: Setting, value: KeyPath<MasteryRule, Value>, help: String) {
        self.init(
            key: "\(whole.key).\(part.rawValue)", name: "\(whole.key)-\(part.rawValue)", help: help,
            resume: whole.resume, defaultText: Setting.text(Setting.defaults.mastery[keyPath: value]), property: nil)
    }

    private static func render(_ shown: Default, _ value: Any) -> String? {
        switch shown {
        case .value: return text(value)
        case .text(let text): return text
        case .none: return nil
        }
    }
}

// MARK: - Reading and writing through the table

/// The `TrainingConfig` property behind a setting, type-erased so that one table holds them all.
/// (Unchecked: key paths to stored properties, and closures capturing only them, hold no state.)
struct Property: @unchecked Sendable {
    let keyPath: AnyKeyPath
    let encode: (TrainingConfig, inout KeyedEncodingContainer<SettingKey>) throws -> Void
    let decode: (inout TrainingConfig, KeyedDecodingContainer<SettingKey>) throws -> Void
    let value: (TrainingConfig) -> Any
    let equal: (TrainingConfig, TrainingConfig) -> Bool
    let copy: (inout TrainingConfig, TrainingConfig) -> Void

    init<Value: Codable & Equatable>(_ keyPath: WritableKeyPath<TrainingConfig, Value>, key: String) {
        let codingKey = SettingKey(key)
        self.init(
            keyPath,
            encode: { config, container in try container.encode(config[keyPath: keyPath], forKey: codingKey) },
            decode: { config, container in
                // A key a checkpoint lacks is a setting added after it was written: the run
                // behaved as its default does.
                if let value = try container.decodeIfPresent(Value.self, forKey: codingKey) {
                    config[keyPath: keyPath] = value
                }
            })
    }

    init<Value: Codable & Equatable>(optional keyPath: WritableKeyPath<TrainingConfig, Value?>, key: String) {
        let codingKey = SettingKey(key)
        self.init(
            keyPath,
            encode: { config, container in try container.encodeIfPresent(config[keyPath: keyPath], forKey: codingKey) },
            decode: { config, container in
                config[keyPath: keyPath] = try container.decodeIfPresent(Value.self, forKey: codingKey)
            })
    }

    private init<Value: Equatable>(
        _ keyPath: WritableKeyPath<TrainingConfig, Value>,
        encode: @escaping (TrainingConfig, inout KeyedEncodingContainer<SettingKey>) throws -> Void,
        decode: @escaping (inout TrainingConfig, KeyedDecodingContainer<SettingKey>) throws -> Void
    ) {
        self.keyPath = keyPath
        self.encode = encode
        self.decode = decode
        value = { $0[keyPath: keyPath] }
        equal = { $0[keyPath: keyPath] == $1[keyPath: keyPath] }
        copy = { $0[keyPath: keyPath] = $1[keyPath: keyPath] }
    }
}

/// A meta.json key of a setting.
struct SettingKey: CodingKey {
    let stringValue: String
    init(_ key: String) { stringValue = key }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

extension TrainingConfig {
    /// Decodes meta.json's `config` through the table; a property whose key is absent (a
    /// checkpoint written before the setting existed) keeps its default. `run_dir` is required.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: SettingKey.self)
        self.init(runDirectory: try container.decode(String.self, forKey: SettingKey(Setting.runDir.key)))
        for property in Setting.all.compactMap(\.property) { try property.decode(&self, container) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: SettingKey.self)
        for property in Setting.all.compactMap(\.property) { try property.encode(self, &container) }
    }

    /// The value of `setting` as messages show it (nil shows as the default, e.g. "all").
    public func text(of setting: Setting) -> String {
        guard let property = setting.property else { preconditionFailure("\(setting.key) is a part of a setting") }
        return Setting.text(property.value(self)) ?? setting.defaultText ?? "not set"
    }

    /// Gives `setting` the value `value` (of its property's type, or of the wrapped type of an
    /// optional property). When resuming from the checkpoint `checkpoint` (whose configuration
    /// this is), a `.fixed` setting may only be given the value it has.
    public mutating func set<Value>(_ setting: Setting, to value: Value, resumingFrom checkpoint: String? = nil) throws {
        guard let property = setting.property else { preconditionFailure("\(setting.key) is a part of a setting") }
        var updated = self
        if let keyPath = property.keyPath as? WritableKeyPath<TrainingConfig, Value> {
            updated[keyPath: keyPath] = value
        } else if let keyPath = property.keyPath as? WritableKeyPath<TrainingConfig, Value?> {
            updated[keyPath: keyPath] = value
        } else {
            preconditionFailure("setting \(setting.key) does not hold a \(Value.self)")
        }
        if let checkpoint, setting.resume == .fixed, !property.equal(self, updated) {
            throw ConfigurationError(
                setting: setting,
                "differs from the checkpoint \(checkpoint) (\(text(of: setting))); a resumed run keeps its settings: "
                    + "drop \(setting) or start a new run")
        }
        self = updated
    }

    /// The configuration a resumed run starts from: this one (the checkpoint's) with the
    /// `.perRun` settings back at their defaults.
    public func resumed() -> TrainingConfig {
        var config = self
        for setting in Setting.all where setting.resume == .perRun { setting.property?.copy(&config, Setting.defaults) }
        return config
    }
}
