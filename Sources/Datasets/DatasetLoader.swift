import Foundation

/// Finds a supported dataset in a directory and reads its train and test splits.
public enum DatasetLoader {
    /// Detects the format in `directory`, reads train and test splits; `limit` keeps the first `limit` training instances (test split is never limited).
    ///
    /// A directory holding more than one of IDX, CIFAR-10, CIFAR-100 and NumPy is refused;
    /// CIFAR files may also sit in `cifar-10-batches-bin/` or `cifar-100-binary/`, as the
    /// official archives extract. For IDX and NumPy the class count is the largest
    /// training label plus one (`ClassLabels`), taken over the whole file so that `limit`
    /// does not change the model's output size.
    ///
    ///     let splits = try DatasetLoader.load(directory: "data", npyLayout: .nchw)
    ///
    /// - Parameters:
    ///   - limit: must be non-negative when given; larger than the training split keeps all of it.
    ///   - npyLayout: where the channels of 4-D NumPy image arrays are (`NPYLayout`); other formats ignore it.
    /// - Throws: `DatasetError`.
    public static func load(
        directory: String, limit: Int? = nil, testLimit: Int? = nil, npyLayout: NPYLayout = .auto
    ) throws -> DatasetSplits {
        if let limit, limit < 0 { throw DatasetError.badDimensions(file: directory, reason: "negative limit \(limit)") }
        if let testLimit, testLimit < 0 {
            throw DatasetError.badDimensions(file: directory, reason: "negative test limit \(testLimit)")
        }
        guard isDirectory(directory) else { throw DatasetError.missingDirectory(path: directory) }
        // A directory we may not list looks empty: say so rather than "no dataset files found".
        if access(directory, R_OK | X_OK) != 0 {
            throw DatasetError.unreadableFile(file: directory, message: String(cString: strerror(errno)))
        }

        let idx = firstExisting(IDXNames.trainImages, in: directory)
        let cifar10 = cifarDirectory(directory, subdirectory: "cifar-10-batches-bin", marker: "data_batch_1.bin")
        let cifar100 = cifarDirectory(directory, subdirectory: "cifar-100-binary", marker: "train.bin")
        let numpy = firstExisting([NPYReader.trainImages], in: directory)
        let found = [
            idx.map { "IDX (\($0))" }, numpy.map { "NumPy (\($0))" }, cifar10.map { "CIFAR-10 (\(join($0, "data_batch_1.bin")))" },
            cifar100.map { "CIFAR-100 (\(join($0, "train.bin")))" },
        ].compactMap { $0 }
        guard found.count <= 1 else { throw DatasetError.mixedFormats(directory: directory, found: found) }

        let splits: DatasetSplits
        if let trainImages = idx {
            splits = try loadIDX(directory: directory, trainImages: trainImages)
        } else if let trainImages = numpy {
            splits = try loadNumPy(directory: directory, trainImages: trainImages, layout: npyLayout)
        } else if let dir = cifar10 {
            let batches = (1...5).map { "data_batch_\($0).bin" }
            splits = DatasetSplits(
                train: try CIFARReader.read(try require(batches, in: dir), variant: .cifar10),
                test: try CIFARReader.read(try require(["test_batch.bin"], in: dir), variant: .cifar10),
                format: .cifar10, directory: dir)
        } else if let dir = cifar100 {
            splits = DatasetSplits(
                train: try CIFARReader.read(try require(["train.bin"], in: dir), variant: .cifar100),
                test: try CIFARReader.read(try require(["test.bin"], in: dir), variant: .cifar100),
                format: .cifar100, directory: dir)
        } else {
            throw DatasetError.noDatasetFiles(
                directory: directory,
                lookedFor: IDXNames.trainImages + [NPYReader.trainImages] + [
                    "data_batch_1.bin", "cifar-10-batches-bin/data_batch_1.bin",
                    "train.bin", "cifar-100-binary/train.bin",
                ])
        }
        guard limit != nil || testLimit != nil else { return splits }
        return DatasetSplits(
            train: limit.map { splits.train.prefix($0) } ?? splits.train,
            test: testLimit.map { splits.test.prefix($0) } ?? splits.test, format: splits.format,
            directory: splits.directory)
    }

    /// Accepted IDX file names, in order of preference.
    ///
    /// Raw files come first because they skip decompression; the dotted
    /// spelling is how some mirrors (e.g. Kaggle) name the extracted files.
    enum IDXNames {
        static func variants(_ stem: String, _ kind: String) -> [String] {
            ["\(stem)-\(kind)", "\(stem)-\(kind).gz", "\(stem).\(kind)", "\(stem).\(kind).gz"]
        }
        static let trainImages = variants("train-images", "idx3-ubyte")
        static let trainLabels = variants("train-labels", "idx1-ubyte")
        static let testImages = variants("t10k-images", "idx3-ubyte")
        static let testLabels = variants("t10k-labels", "idx1-ubyte")
    }

    private static func loadIDX(directory: String, trainImages: String) throws -> DatasetSplits {
        let trainLabels = try requireOne(IDXNames.trainLabels, in: directory)
        let testImages = try requireOne(IDXNames.testImages, in: directory)
        let testLabels = try requireOne(IDXNames.testLabels, in: directory)
        let train = try IDXReader.readSplit(imagesPath: trainImages, labelsPath: trainLabels, classCount: nil)
        let test = try IDXReader.readSplit(
            imagesPath: testImages, labelsPath: testLabels, classCount: train.classCount)
        guard test.height == train.height, test.width == train.width else {
            throw DatasetError.badDimensions(
                file: testImages,
                reason: "test images are \(test.height)x\(test.width) but training images (\(trainImages)) are \(train.height)x\(train.width)")
        }
        return DatasetSplits(train: train, test: test, format: .idx, directory: directory)
    }

    private static func loadNumPy(directory: String, trainImages: String, layout: NPYLayout) throws -> DatasetSplits {
        let (trainLabels, testImages, testLabels) = (
            try requireOne([NPYReader.trainLabels], in: directory), try requireOne([NPYReader.testImages], in: directory),
            try requireOne([NPYReader.testLabels], in: directory)
        )
        let train = try NPYReader.readSplit(
            imagesPath: trainImages, labelsPath: trainLabels, classCount: nil, layout: layout)
        let test = try NPYReader.readSplit(
            imagesPath: testImages, labelsPath: testLabels, classCount: train.classCount, layout: layout)
        try NPYReader.checkSameShape(
            test: (test.channels, test.height, test.width), testImages: testImages,
            train: (train.channels, train.height, train.width), trainImages: trainImages)
        return DatasetSplits(train: train, test: test, format: .numpy, directory: directory)
    }

    /// The directory holding `marker`: `directory` itself or its `subdirectory`.
    static func cifarDirectory(_ directory: String, subdirectory: String, marker: String) -> String? {
        for candidate in [directory, join(directory, subdirectory)] where isFile(join(candidate, marker)) {
            return candidate
        }
        return nil
    }

    static func firstExisting(_ names: [String], in directory: String) -> String? {
        names.lazy.map { join(directory, $0) }.first(where: isFile)
    }

    static func requireOne(_ names: [String], in directory: String) throws -> String {
        if let path = firstExisting(names, in: directory) { return path }
        throw DatasetError.missingFile(path: join(directory, names[0]), alternatives: Array(names.dropFirst()))
    }

    static func require(_ names: [String], in directory: String) throws -> [String] {
        try names.map { name in
            let path = join(directory, name)
            guard isFile(path) else { throw DatasetError.missingFile(path: path) }
            return path
        }
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }
}
