import Foundation

extension DatasetSources {
    /// The splits of the dataset in `directory` as sources a rank reads its shard from:
    /// memory-mapped records for raw IDX, NumPy `.npy` and CIFAR binary files; otherwise (gzip) the split
    /// read whole, as `DatasetLoader.load` reads it. Detection, limits and every error are
    /// `DatasetLoader.load`'s: whatever this does not recognize as random-access it hands
    /// to `load`.
    ///
    /// - Throws: `DatasetError`.
    public static func open(
        directory: String, limit: Int? = nil, testLimit: Int? = nil, npyLayout: NPYLayout = .auto
    ) throws -> DatasetSources {
        typealias L = DatasetLoader
        let limitsValid = (limit ?? 0) >= 0 && (testLimit ?? 0) >= 0
        if limitsValid, L.isDirectory(directory), access(directory, R_OK | X_OK) == 0 {
            let idx = L.firstExisting(L.IDXNames.trainImages, in: directory)
            let numpy = L.firstExisting([NPYReader.trainImages], in: directory)
            let cifar10 = L.cifarDirectory(directory, subdirectory: "cifar-10-batches-bin", marker: "data_batch_1.bin")
            let cifar100 = L.cifarDirectory(directory, subdirectory: "cifar-100-binary", marker: "train.bin")
            switch (idx ?? numpy, cifar10, cifar100) {
            case (let trainImages?, nil, nil) where idx != nil && numpy != nil:
                _ = trainImages  // two formats: `load` refuses them with its message
            case (let trainImages?, nil, nil) where numpy != nil:
                return try openNumPy(directory: directory, trainImages: trainImages, limit: limit, testLimit: testLimit,
                                     layout: npyLayout)
            case (let trainImages?, nil, nil):
                return try openIDX(directory: directory, trainImages: trainImages, limit: limit, testLimit: testLimit)
            case (nil, let dir?, nil):
                let batches = (1...5).map { "data_batch_\($0).bin" }
                return DatasetSources(
                    train: try CIFARReader.source(try L.require(batches, in: dir), variant: .cifar10, limit: limit),
                    test: try CIFARReader.source(try L.require(["test_batch.bin"], in: dir), variant: .cifar10, limit: testLimit),
                    format: .cifar10, directory: dir)
            case (nil, nil, let dir?):
                return DatasetSources(
                    train: try CIFARReader.source(try L.require(["train.bin"], in: dir), variant: .cifar100, limit: limit),
                    test: try CIFARReader.source(try L.require(["test.bin"], in: dir), variant: .cifar100, limit: testLimit),
                    format: .cifar100, directory: dir)
            default:
                break
            }
        }
        return DatasetSources(
            splits: try DatasetLoader.load(directory: directory, limit: limit, testLimit: testLimit, npyLayout: npyLayout))
    }

    private static func openNumPy(
        directory: String, trainImages: String, limit: Int?, testLimit: Int?, layout: NPYLayout
    ) throws -> DatasetSources {
        typealias L = DatasetLoader
        let trainLabels = try L.requireOne([NPYReader.trainLabels], in: directory)
        let testImages = try L.requireOne([NPYReader.testImages], in: directory)
        let testLabels = try L.requireOne([NPYReader.testLabels], in: directory)
        let train = try NPYReader.source(
            imagesPath: trainImages, labelsPath: trainLabels, classCount: nil, layout: layout, limit: limit)
        let test = try NPYReader.source(
            imagesPath: testImages, labelsPath: testLabels, classCount: train.classCount, layout: layout, limit: testLimit)
        try NPYReader.checkSameShape(
            test: (test.channels, test.height, test.width), testImages: testImages,
            train: (train.channels, train.height, train.width), trainImages: trainImages)
        return DatasetSources(train: train, test: test, format: .numpy, directory: directory)
    }

    private static func openIDX(directory: String, trainImages: String, limit: Int?, testLimit: Int?) throws -> DatasetSources {
        typealias L = DatasetLoader
        let trainLabels = try L.requireOne(L.IDXNames.trainLabels, in: directory)
        let testImages = try L.requireOne(L.IDXNames.testImages, in: directory)
        let testLabels = try L.requireOne(L.IDXNames.testLabels, in: directory)
        let train = try IDXReader.source(imagesPath: trainImages, labelsPath: trainLabels, classCount: nil, limit: limit)
        let test = try IDXReader.source(
            imagesPath: testImages, labelsPath: testLabels, classCount: train.classCount, limit: testLimit)
        guard test.height == train.height, test.width == train.width else {
            throw DatasetError.badDimensions(
                file: testImages,
                reason: "test images are \(test.height)x\(test.width) but training images (\(trainImages)) are \(train.height)x\(train.width)")
        }
        return DatasetSources(train: train, test: test, format: .idx, directory: directory)
    }
}
