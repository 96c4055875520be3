import Datasets
import Foundation
import NN

/// The final model as `model.safetensors`: parameters under PyTorch names and layouts,
/// plus `__metadata__` describing the preset, input shape, classes and normalization
/// so that `ies eval` can rebuild it. Loadable by `safetensors.torch.load_file`.
public struct ModelFile: Sendable {
    public static let formatTag = "ies-model/1"

    public var preset: ModelPreset
    public var channels: Int, height: Int, width: Int
    public var classes: Int
    public var normalization: Normalization

    public init(preset: ModelPreset, channels: Int, height: Int, width: Int, classes: Int, normalization: Normalization) {
        self.preset = preset
        self.channels = channels; self.height = height; self.width = width
        self.classes = classes
        self.normalization = normalization
    }

    var metadata: [String: String] {
        [
            "format": ModelFile.formatTag,
            "model": preset.rawValue,
            "input_shape": "\(channels),\(height),\(width)",
            "classes": String(classes),
            "normalization_mean": normalization.mean.map { String($0) }.joined(separator: ","),
            "normalization_std": normalization.std.map { String($0) }.joined(separator: ","),
        ]
    }

    /// The parameters of `store` as safetensors tensors, in store order.
    public static func tensors(of store: ParameterStore) -> [SafetensorsTensor] {
        store.entries.map { entry in
            SafetensorsTensor(
                name: entry.name, shape: entry.shape,
                floats: UnsafeBufferPointer(start: store.values + entry.offset, count: entry.count))
        }
    }

    /// The bytes of the safetensors file for `model`.
    public func encoded(_ model: Sequential) -> [UInt8] {
        SafetensorsFile(tensors: ModelFile.tensors(of: model.parameters), metadata: metadata).encoded()
    }

    /// Writes `model` atomically to `path`.
    public func write(_ model: Sequential, to path: String) throws {
        try AtomicFile.write(encoded(model), to: path)
    }

    /// Copies every parameter of `store` from the tensor of the same name in `file`
    /// (which must be F32 with the store's shape).
    public static func loadParameters(from file: SafetensorsFile, into store: ParameterStore, path: String) throws {
        for entry in store.entries {
            guard let tensor = file[entry.name] else {
                throw TrainingError.badModelFile(path: path, message: "missing tensor \(entry.name)")
            }
            guard tensor.dtype == .f32, tensor.shape == entry.shape else {
                throw TrainingError.badModelFile(
                    path: path,
                    message: "tensor \(entry.name) is \(tensor.dtype.rawValue) \(tensor.shape), expected F32 \(entry.shape)")
            }
            tensor.floats.withUnsafeBufferPointer {
                (store.values + entry.offset).update(from: $0.baseAddress!, count: entry.count)
            }
        }
    }

    /// Reads a model file written by `write`, rebuilding the model with its parameters.
    public static func read(path: String, maxBatch: Int) throws -> (ModelFile, Sequential) {
        let file = try SafetensorsFile.read(path: path)
        func bad(_ message: String) -> TrainingError { .badModelFile(path: path, message: message) }
        let meta = file.metadata
        guard meta["format"] == formatTag else {
            throw bad("not an ies model file (metadata format is \(meta["format"] ?? "missing"), expected \(formatTag))")
        }
        guard let name = meta["model"], let preset = ModelPreset(rawValue: name) else {
            throw bad("unknown model '\(meta["model"] ?? "")' in metadata, expected one of mlp, cnn")
        }
        let shape = (meta["input_shape"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }), let classes = Int(meta["classes"] ?? ""), classes > 0
        else { throw bad("metadata input_shape/classes missing or malformed") }
        let mean = (meta["normalization_mean"] ?? "").split(separator: ",").compactMap { Float($0) }
        let std = (meta["normalization_std"] ?? "").split(separator: ",").compactMap { Float($0) }
        guard mean.count == shape[0], std.count == shape[0] else {
            throw bad("metadata normalization must have \(shape[0]) channel values")
        }
        let description = ModelFile(
            preset: preset, channels: shape[0], height: shape[1], width: shape[2], classes: classes,
            normalization: Normalization(mean: mean, std: std))
        let model = try preset.build(
            channels: shape[0], height: shape[1], width: shape[2], classes: classes, maxBatch: maxBatch, seed: 0)
        try loadParameters(from: file, into: model.parameters, path: path)
        if file.tensors.count != model.parameters.entries.count {
            throw bad("has \(file.tensors.count) tensors, the \(preset.rawValue) model has \(model.parameters.entries.count)")
        }
        return (description, model)
    }
}
