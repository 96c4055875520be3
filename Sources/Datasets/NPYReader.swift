/// Reads a split written with `np.save`: uint8 images and integer labels, N first.
enum NPYReader {
    static let trainImages = "train_images.npy"
    static let trainLabels = "train_labels.npy"
    static let testImages = "test_images.npy"
    static let testLabels = "test_labels.npy"

    /// The images and labels of one split as a dataset with ids `0..<N`, images in C, H, W order.
    ///
    /// - Parameter classCount: nil for the training split (`ClassLabels.trainingClasses`);
    ///   otherwise every label must be below it.
    static func readSplit(imagesPath: String, labelsPath: String, classCount: Int?, layout: NPYLayout) throws -> Dataset {
        let (imagesFile, shape, labels, classes) = try checkedSplit(
            imagesPath: imagesPath, labelsPath: labelsPath, classCount: classCount, layout: layout)
        let count = imagesFile.count
        var pixels = try imagesFile.readRecords()
        if shape.layout == .nhwc { pixels = chw(fromHWC: pixels, channels: shape.channels, area: shape.height * shape.width) }
        return Dataset(
            images: pixels, labels: labels.map { Int32($0) }, ids: Array(0..<Int32(count)),
            channels: shape.channels, height: shape.height, width: shape.width, classCount: classes)
    }

    /// The two files of a split opened and checked: uint8 images in an accepted layout, labels
    /// of shape (N,) as many as the images, classes by `ClassLabels`' rule.
    static func checkedSplit(imagesPath: String, labelsPath: String, classCount: Int?, layout: NPYLayout) throws
        -> (images: NPYFile, shape: (layout: NPYLayout, channels: Int, height: Int, width: Int), labels: [Int], classes: Int)
    {
        let imagesFile = try NPYFile(path: imagesPath)
        guard imagesFile.dtype == .uint8 else {
            throw DatasetError.unsupportedDType(
                file: imagesPath, found: imagesFile.dtype.description, accepted: "uint8 images ('|u1')")
        }
        let shape = try layout.resolve(imagesFile.shape, path: imagesPath)
        guard imagesFile.count > 0 else { throw DatasetError.badDimensions(file: imagesPath, reason: "holds 0 images") }
        let labelsFile = try NPYFile(path: labelsPath)
        guard labelsFile.shape.count == 1 else {
            throw DatasetError.unsupportedShape(file: labelsPath, shape: labelsFile.shape, expected: "labels of shape (N,)")
        }
        guard labelsFile.count == imagesFile.count else {
            throw DatasetError.countMismatch(
                imagesFile: imagesPath, imageCount: imagesFile.count, labelsFile: labelsPath, labelCount: labelsFile.count)
        }
        let labels = try labelsFile.integers()
        let classes = try classCount ?? ClassLabels.trainingClasses(labels, path: labelsPath)
        try ClassLabels.check(labels, below: classes, path: labelsPath)
        return (imagesFile, shape, labels, classes)
    }

    /// The test split must have the training split's channels, height and width.
    static func checkSameShape(
        test: (channels: Int, height: Int, width: Int), testImages: String,
        train: (channels: Int, height: Int, width: Int), trainImages: String
    ) throws {
        guard test == train else {
            throw DatasetError.badDimensions(
                file: testImages,
                reason: "test images are \(test.channels)x\(test.height)x\(test.width) (CxHxW) but training images "
                    + "(\(trainImages)) are \(train.channels)x\(train.height)x\(train.width)")
        }
    }

    /// Images in H, W, C order to C, H, W: out[n][c][p] = in[n][p][c] for pixel p of image n
    /// (`area` pixels per image).
    static func chw(fromHWC pixels: [UInt8], channels: Int, area: Int) -> [UInt8] {
        guard channels > 1 else { return pixels }
        let imageSize = channels * area
        return [UInt8](unsafeUninitializedCapacity: pixels.count) { out, initialized in
            pixels.withUnsafeBufferPointer { source in
                for image in stride(from: 0, to: source.count, by: imageSize) {
                    for p in 0..<area {
                        for c in 0..<channels { out[image + c * area + p] = source[image + p * channels + c] }
                    }
                }
            }
            initialized = pixels.count
        }
    }
}
