/// The model presets, PyTorch `nn.Sequential` equivalents adapted to the data's shape.
///
/// - `mlp`: Flatten, Linear(C*H*W, 256), ReLU, Linear(256, 128), ReLU, Linear(128, classes)
/// - `cnn`: Conv2d(C, 32, 3, padding 1), ReLU, MaxPool2d(2), Conv2d(32, 64, 3, padding 1),
///   ReLU, MaxPool2d(2), Flatten, Linear(64*(H/4)*(W/4), 128), ReLU, Linear(128, classes)
public enum ModelPreset: String, CaseIterable, Sendable, Codable {
    case mlp
    case cnn

    /// The layer tree for inputs of shape (channels, height, width) and `classes` outputs.
    public func network(channels: Int, height: Int, width: Int, classes: Int) throws -> Layer {
        try Sequential(layers(channels: channels, height: height, width: width, classes: classes))
    }

    private func layers(channels: Int, height: Int, width: Int, classes: Int) throws -> [Layer] {
        let input = [channels, height, width]
        switch self {
        case .mlp:
            let features = channels * height * width
            return [
                Flatten(shape: input),
                Linear(inFeatures: features, outFeatures: 256), ReLU(shape: [256]),
                Linear(inFeatures: 256, outFeatures: 128), ReLU(shape: [128]),
                Linear(inFeatures: 128, outFeatures: classes),
            ]
        case .cnn:
            let conv1 = try Conv2d(inputShape: input, outChannels: 32, kernel: 3, padding: 1)
            let pool1 = try MaxPool2d(shape: conv1.outputShape, kernel: 2)
            let conv2 = try Conv2d(inputShape: pool1.outputShape, outChannels: 64, kernel: 3, padding: 1)
            let pool2 = try MaxPool2d(shape: conv2.outputShape, kernel: 2)
            let features = pool2.outputSize
            return [
                conv1, ReLU(shape: conv1.outputShape), pool1,
                conv2, ReLU(shape: conv2.outputShape), pool2,
                Flatten(shape: pool2.outputShape),
                Linear(inFeatures: features, outFeatures: 128), ReLU(shape: [128]),
                Linear(inFeatures: 128, outFeatures: classes),
            ]
        }
    }

    /// The model with parameters initialized as PyTorch's defaults from `seed`.
    public func build(
        channels: Int, height: Int, width: Int, classes: Int, maxBatch: Int, seed: UInt64, compute: Compute
    ) throws -> Model {
        let model = try Model(
            network(channels: channels, height: height, width: width, classes: classes), maxBatch: maxBatch,
            compute: compute)
        model.initialize(seed: seed)
        return model
    }
}
