/// The model presets, with the layouts and tensor names of their PyTorch equivalents,
/// adapted to the data's channels, image size and classes.
///
/// - `mlp`: Flatten, Linear(C·H·W, 256), ReLU, Linear(256, 128), ReLU, Linear(128, classes)
/// - `cnn`: Conv2d(C, 32, 3, padding 1), ReLU, MaxPool2d(2), Conv2d(32, 64, 3, padding 1),
///   ReLU, MaxPool2d(2), Flatten, Linear(64·(H/4)·(W/4), 128), ReLU, Linear(128, classes)
/// - `resnet18`, `resnet34` (BasicBlock, [2,2,2,2] / [3,4,6,3]), `resnet50` (Bottleneck,
///   expansion 4, [3,4,6,3]): the IES reference's CIFAR ResNets: `conv1` 3x3 stride 1
///   without bias, `bn1`, `layer1`..`layer4` (stages of W, 2W, 4W, 8W channels, the first
///   block of stages 2-4 with stride 2), global average pooling, `linear`.
/// - `vgg16`: VGG-16 with BatchNorm: `features.S.J` (five stages of 3x3 conv, BatchNorm,
///   ReLU, ending with MaxPool2d(2)), then `classifier.0/3/6` Linear 512·h·w-4096-4096-classes
///   with ReLU and Dropout(0.5) between; needs inputs of at least 32x32.
public enum ModelPreset: String, CaseIterable, Sendable, Codable {
    case mlp
    case cnn
    case resnet18
    case resnet34
    case resnet50
    case vgg16

    /// The first stage's channels of the ResNets when `--width` is not given (as the reference).
    public static let defaultWidth = 64

    /// True for the presets whose stage width can be chosen.
    public var takesWidth: Bool {
        switch self {
        case .resnet18, .resnet34, .resnet50: return true
        case .mlp, .cnn, .vgg16: return false
        }
    }

    /// True for the paper's networks (BatchNorm, trained with crop-and-flip augmentation by default).
    public var isImageNetwork: Bool {
        switch self {
        case .mlp, .cnn: return false
        case .resnet18, .resnet34, .resnet50, .vgg16: return true
        }
    }

    /// The layer tree for inputs of shape (channels, height, width) and `classes` outputs;
    /// `stageWidth` is the ResNets' first-stage width (nil: 64).
    public func network(channels: Int, height: Int, width: Int, classes: Int, stageWidth: Int? = nil) throws -> Layer {
        let input = [channels, height, width]
        guard input.allSatisfy({ $0 > 0 }), classes > 0 else {
            throw ShapeError("\(rawValue) needs positive input dimensions and classes, got \(input) and \(classes)")
        }
        if let stageWidth, !takesWidth {
            throw ShapeError("\(rawValue) has no stage width to set (got \(stageWidth)); only the resnets take one")
        }
        let w = stageWidth ?? Self.defaultWidth
        guard w > 0 else { throw ShapeError("the stage width must be positive, got \(w)") }
        switch self {
        case .mlp:
            let features = channels * height * width
            return try Sequential([
                Flatten(shape: input),
                Linear(inFeatures: features, outFeatures: 256), ReLU(shape: [256]),
                Linear(inFeatures: 256, outFeatures: 128), ReLU(shape: [128]),
                Linear(inFeatures: 128, outFeatures: classes),
            ])
        case .cnn:
            let conv1 = try Conv2d(inputShape: input, outChannels: 32, kernel: 3, padding: 1)
            let pool1 = try MaxPool2d(shape: conv1.outputShape, kernel: 2)
            let conv2 = try Conv2d(inputShape: pool1.outputShape, outChannels: 64, kernel: 3, padding: 1)
            let pool2 = try MaxPool2d(shape: conv2.outputShape, kernel: 2)
            return try Sequential([
                conv1, ReLU(shape: conv1.outputShape), pool1,
                conv2, ReLU(shape: conv2.outputShape), pool2,
                Flatten(shape: pool2.outputShape),
                Linear(inFeatures: pool2.outputSize, outFeatures: 128), ReLU(shape: [128]),
                Linear(inFeatures: 128, outFeatures: classes),
            ])
        case .resnet18:
            return try Self.resnet(input: input, classes: classes, width: w, blocks: [2, 2, 2, 2], bottleneck: false)
        case .resnet34:
            return try Self.resnet(input: input, classes: classes, width: w, blocks: [3, 4, 6, 3], bottleneck: false)
        case .resnet50:
            return try Self.resnet(input: input, classes: classes, width: w, blocks: [3, 4, 6, 3], bottleneck: true)
        case .vgg16:
            return try Self.vgg16(input: input, classes: classes)
        }
    }

    /// The model with parameters and buffers initialized as PyTorch's defaults from `seed`.
    public func build(
        channels: Int, height: Int, width: Int, classes: Int, maxBatch: Int, seed: UInt64, compute: Compute,
        stageWidth: Int? = nil
    ) throws -> Model {
        let model = try Model(
            network(channels: channels, height: height, width: width, classes: classes, stageWidth: stageWidth),
            maxBatch: maxBatch, compute: compute)
        model.initialize(seed: seed)
        return model
    }

    // MARK: - ResNet

    private static func resnet(input: [Int], classes: Int, width: Int, blocks: [Int], bottleneck: Bool) throws -> Layer {
        let conv1 = try Conv2d(inputShape: input, outChannels: width, kernel: 3, padding: 1, bias: false)
        var entries: [(String?, Layer)] = [
            ("conv1", conv1), ("bn1", try BatchNorm2d(shape: conv1.outputShape)), (nil, ReLU(shape: conv1.outputShape)),
        ]
        var shape = conv1.outputShape
        for (stage, count) in blocks.enumerated() {
            var stageBlocks: [Layer] = []
            for index in 0..<count {
                let stride = index == 0 && stage > 0 ? 2 : 1
                let planes = width << stage
                let block = bottleneck
                    ? try bottleneckBlock(input: shape, planes: planes, stride: stride)
                    : try basicBlock(input: shape, planes: planes, stride: stride)
                stageBlocks.append(block)
                shape = block.outputShape
            }
            entries.append(("layer\(stage + 1)", try Sequential(stageBlocks)))
        }
        let pool = try GlobalAvgPool2d(shape: shape)
        entries.append((nil, pool))
        entries.append(("linear", Linear(inFeatures: pool.outputSize, outFeatures: classes)))
        return try Sequential(named: entries)
    }

    /// conv 3x3 (stride) - BN - ReLU - conv 3x3 - BN, plus the shortcut, then ReLU.
    private static func basicBlock(input: [Int], planes: Int, stride: Int) throws -> Layer {
        let conv1 = try Conv2d(inputShape: input, outChannels: planes, kernel: 3, stride: stride, padding: 1, bias: false)
        let conv2 = try Conv2d(inputShape: conv1.outputShape, outChannels: planes, kernel: 3, padding: 1, bias: false)
        let main = try Sequential(named: [
            ("conv1", conv1), ("bn1", try BatchNorm2d(shape: conv1.outputShape)), (nil, ReLU(shape: conv1.outputShape)),
            ("conv2", conv2), ("bn2", try BatchNorm2d(shape: conv2.outputShape)),
        ])
        return try ResidualBlock(name: "BasicBlock", main: main, shortcut: shortcut(input: input, output: main.outputShape, stride: stride))
    }

    /// conv 1x1 - BN - ReLU - conv 3x3 (stride) - BN - ReLU - conv 1x1 (4x planes) - BN,
    /// plus the shortcut, then ReLU.
    private static func bottleneckBlock(input: [Int], planes: Int, stride: Int) throws -> Layer {
        let conv1 = try Conv2d(inputShape: input, outChannels: planes, kernel: 1, bias: false)
        let conv2 = try Conv2d(
            inputShape: conv1.outputShape, outChannels: planes, kernel: 3, stride: stride, padding: 1, bias: false)
        let conv3 = try Conv2d(inputShape: conv2.outputShape, outChannels: 4 * planes, kernel: 1, bias: false)
        let main = try Sequential(named: [
            ("conv1", conv1), ("bn1", try BatchNorm2d(shape: conv1.outputShape)), (nil, ReLU(shape: conv1.outputShape)),
            ("conv2", conv2), ("bn2", try BatchNorm2d(shape: conv2.outputShape)), (nil, ReLU(shape: conv2.outputShape)),
            ("conv3", conv3), ("bn3", try BatchNorm2d(shape: conv3.outputShape)),
        ])
        return try ResidualBlock(name: "Bottleneck", main: main, shortcut: shortcut(input: input, output: main.outputShape, stride: stride))
    }

    /// A 1x1 convolution (stride) and BatchNorm when the block changes the shape; else the identity (nil).
    private static func shortcut(input: [Int], output: [Int], stride: Int) throws -> Sequential? {
        guard stride != 1 || input[0] != output[0] else { return nil }
        let conv = try Conv2d(inputShape: input, outChannels: output[0], kernel: 1, stride: stride, bias: false)
        return try Sequential([conv, try BatchNorm2d(shape: conv.outputShape)])
    }

    // MARK: - VGG

    private static func vgg16(input: [Int], classes: Int) throws -> Layer {
        guard input[1] >= 32, input[2] >= 32 else {
            throw ShapeError(
                "vgg16 needs inputs of at least 32x32 (five 2x2 poolings); the data are \(input[1])x\(input[2])")
        }
        var shape = input
        var stages: [Layer] = []
        for (channels, convolutions) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
            var layers: [Layer] = []
            for _ in 0..<convolutions {
                let conv = try Conv2d(inputShape: shape, outChannels: channels, kernel: 3, padding: 1)
                layers += [conv, try BatchNorm2d(shape: conv.outputShape), ReLU(shape: conv.outputShape)]
                shape = conv.outputShape
            }
            let pool = try MaxPool2d(shape: shape, kernel: 2)
            layers.append(pool)
            shape = pool.outputShape
            stages.append(try Sequential(layers))
        }
        let flatten = Flatten(shape: shape)
        let classifier = try Sequential([
            Linear(inFeatures: flatten.outputSize, outFeatures: 4096), ReLU(shape: [4096]),
            try Dropout(shape: [4096], stream: 1),
            Linear(inFeatures: 4096, outFeatures: 4096), ReLU(shape: [4096]), try Dropout(shape: [4096], stream: 2),
            Linear(inFeatures: 4096, outFeatures: classes),
        ])
        return try Sequential(named: [("features", try Sequential(stages)), (nil, flatten), ("classifier", classifier)])
    }
}
