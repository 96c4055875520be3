import Datasets
import DurableIO
import Foundation
import NN
import SafeTensors

/// The final model as `model.safetensors`: parameters and buffers under PyTorch names and layouts,
/// plus `__metadata__` describing the preset, input shape, classes and normalization
/// so that `ies eval` can rebuild it. Loadable by `safetensors.torch.load_file`.
public struct ModelFile: Sendable {
    public static let formatTag = "ies-model/1"

    public var preset: ModelPreset
    /// The ResNets' first-stage width, when one was chosen.
    public var stageWidth: Int?
    public var channels: Int, height: Int, width: Int
    public var classes: Int
    public var normalization: Normalization

    public init(
        preset: ModelPreset, stageWidth: Int? = nil, channels: Int, height: Int, width: Int, classes: Int,
        normalization: Normalization
    ) {
        self.preset = preset
        self.stageWidth = stageWidth
        self.channels = channels; self.height = height; self.width = width
        self.classes = classes
        self.normalization = normalization
    }

    var metadata: [String: String] {
        var metadata = [
            "format": ModelFile.formatTag,
            "model": preset.rawValue,
            "input_shape": "\(channels),\(height),\(width)",
            "classes": String(classes),
            "normalization_mean": normalization.mean.map { String($0) }.joined(separator: ","),
            "normalization_std": normalization.std.map { String($0) }.joined(separator: ","),
        ]
        if preset.takesWidth { metadata["width"] = String(stageWidth ?? ModelPreset.defaultWidth) }
        return metadata
    }

    /// The model's parameters, its buffers, then its `num_batches_tracked` counters (I64
    /// scalars, as PyTorch stores them), as safetensors tensors.
    public static func tensors(of model: Model) -> [SafetensorsTensor] {
        [model.parameters, model.buffers].flatMap { store in
            store.withUnsafeBufferPointer { values in
                store.entries.map { entry in
                    SafetensorsTensor(
                        name: entry.name, shape: entry.shape,
                        floats: UnsafeBufferPointer(rebasing: values[entry.offset..<(entry.offset + entry.count)]))
                }
            }
        } + model.batchCounterNames.map { SafetensorsTensor(name: $0, shape: [], int64s: [model.trainingSteps]) }
    }

    /// The bytes of the safetensors file for `model`.
    public func encoded(_ model: Model) -> [UInt8] {
        SafetensorsFile(tensors: ModelFile.tensors(of: model), metadata: metadata).encoded()
    }

    /// Writes `model` durably and atomically to `path`.
    public func write(_ model: Model, to path: String) throws {
        try DurableFile.write(encoded(model), to: path)
    }

    /// Copies every parameter and buffer of `model` from the tensor of the same name in
    /// `file` (which must be F32 with the model's shape); `path` names the file in errors.
    public static func load(_ file: SafetensorsFile, into model: Model, path: String) throws {
        for store in [model.parameters, model.buffers] {
            for entry in store.entries {
                guard let tensor = file[entry.name] else {
                    throw TrainingError.badModelFile(path: path, message: "missing tensor \(entry.name)")
                }
                guard tensor.dtype == .f32, tensor.shape == entry.shape else {
                    throw TrainingError.badModelFile(
                        path: path,
                        message: "tensor \(entry.name) is \(tensor.dtype.rawValue) \(tensor.shape), expected F32 \(entry.shape)")
                }
                store.load(tensor.floats, into: entry)
            }
        }
        var steps: Set<Int64> = []
        for name in model.batchCounterNames {
            guard let tensor = file[name], tensor.dtype == .i64, tensor.shape == [] else {
                throw TrainingError.badModelFile(path: path, message: "missing I64 scalar \(name)")
            }
            steps.insert(tensor.int64s[0])
        }
        guard steps.count <= 1 else {
            throw TrainingError.badModelFile(path: path, message: "num_batches_tracked differs between layers: \(steps.sorted())")
        }
        model.trainingSteps = steps.first ?? 0
    }

    /// The largest metadata values `read` accepts (a corrupt or hostile file must not make it
    /// allocate without limit).
    public enum Bounds {
        public static let channels = 64
        public static let side = 4096
        public static let classes = 100_000
        public static let stageWidth = TrainingConfig.maxWidth
    }

    /// Reads a model file written by `write`, rebuilding the model with its parameters.
    /// `maxBatch` nil: 256 for the mlp and cnn, 64 for the larger networks (bounded memory).
    public static func read(path: String, maxBatch: Int? = nil, compute: Compute) throws -> (ModelFile, Model) {
        let file = try SafetensorsFile.read(path: path)
        func bad(_ message: String) -> TrainingError { .badModelFile(path: path, message: message) }
        let meta = file.metadata
        guard meta["format"] == formatTag else {
            throw bad("not an ies model file (metadata format is \(meta["format"] ?? "missing"), expected \(formatTag))")
        }
        guard let name = meta["model"], let preset = ModelPreset(rawValue: name) else {
            throw bad(
                "unknown model '\(meta["model"] ?? "")' in metadata, expected one of "
                    + ModelPreset.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var stageWidth: Int?
        if preset.takesWidth {
            guard let text = meta["width"], let value = Int(text), value > 0 else {
                throw bad("metadata width missing or malformed for \(name)")
            }
            guard value <= Bounds.stageWidth else { throw bad("metadata width \(value) exceeds \(Bounds.stageWidth)") }
            stageWidth = value
        }
        let shapeText = meta["input_shape"] ?? ""
        let shape = shapeText.split(separator: ",").compactMap { Int($0) }
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw bad("metadata input_shape '\(shapeText)' is not three positive integers C,H,W")
        }
        guard shape[0] <= Bounds.channels, shape[1] <= Bounds.side, shape[2] <= Bounds.side else {
            throw bad("metadata input_shape \(shapeText) exceeds \(Bounds.channels) channels or \(Bounds.side) pixels a side")
        }
        guard let classes = Int(meta["classes"] ?? ""), classes > 0 else {
            throw bad("metadata classes '\(meta["classes"] ?? "")' is not a positive integer")
        }
        guard classes <= Bounds.classes else { throw bad("metadata classes \(classes) exceeds \(Bounds.classes)") }
        let meanText = meta["normalization_mean"] ?? "", stdText = meta["normalization_std"] ?? ""
        let mean = meanText.split(separator: ",").compactMap { Float($0) }
        let std = stdText.split(separator: ",").compactMap { Float($0) }
        guard mean.count == shape[0], std.count == shape[0] else {
            throw bad("metadata normalization must have \(shape[0]) channel values")
        }
        guard mean.allSatisfy(\.isFinite) else {
            throw bad("metadata normalization_mean '\(meanText)' must hold finite numbers")
        }
        guard std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw bad("metadata normalization_std '\(stdText)' must hold finite numbers > 0")
        }
        let batch = maxBatch ?? (preset.isImageNetwork ? 64 : 256)
        do {
            let size = try preset.footprint(
                channels: shape[0], height: shape[1], width: shape[2], classes: classes, stageWidth: stageWidth)
            let bytes = 4 * (Double(size.parameters) + 2 * Double(size.activationsPerInstance) * Double(batch))
            guard bytes <= Double(TrainingConfig.maxModelBytes) else {
                throw bad(
                    "metadata input_shape \(shapeText), classes \(classes)"
                        + (stageWidth.map { " and width \($0)" } ?? "") + " make a \(name) of \(size.parameters) "
                        + "parameters that needs more than \(TrainingConfig.maxModelBytes >> 30) GiB")
            }
        } catch let error as ShapeError {
            throw bad("metadata input_shape \(shapeText) does not fit a \(name): \(error)")
        }
        let description = ModelFile(
            preset: preset, stageWidth: stageWidth, channels: shape[0], height: shape[1], width: shape[2],
            classes: classes, normalization: Normalization(mean: mean, std: std))
        let model = try preset.build(
            channels: shape[0], height: shape[1], width: shape[2], classes: classes,
            maxBatch: batch, seed: 0, compute: compute, stageWidth: stageWidth)
        try load(file, into: model, path: path)
        let expected = model.parameters.entries.count + model.buffers.entries.count + model.batchCounterNames.count
        if file.tensors.count != expected {
            throw bad("has \(file.tensors.count) tensors, the \(preset.rawValue) model has \(expected)")
        }
        return (description, model)
    }
}
