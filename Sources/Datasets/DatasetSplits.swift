/// The training and test splits of one dataset directory.
public struct DatasetSplits: Sendable {
    public let train: Dataset
    public let test: Dataset
    public let format: DatasetFormat
    /// The directory the files were actually read from (a CIFAR subdirectory if that is where they were).
    public let directory: String

    public init(train: Dataset, test: Dataset, format: DatasetFormat, directory: String) {
        self.train = train
        self.test = test
        self.format = format
        self.directory = directory
    }
}
