import Datasets
import TestSupport
import XCTest

/// Labels decide the model's output size, so a label that does not belong is an error naming
/// its file, never a silently larger model: IDX declares no class count, so the training
/// labels must be 0..<C with every class present; test labels must be below the training
/// classes; CIFAR labels (both of CIFAR-100's) are checked against the format's classes.
/// A directory holding two formats is refused rather than one picked silently.
final class LabelValidationTests: XCTestCase {
    /// The training fixture has labels 2, 0, 1, 2; one 200 instead of the 1 would have made 201 classes.
    func testOneFarTrainingLabelIsAnErrorNamingTheFile() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, trainLabels: Fixtures.idxLabels([1, 0, 200, 2]))
        let path = dir.file("train-labels-idx1-ubyte")
        assertLoadThrows(
            dir.path, .classesWithoutInstances(file: path, largestLabel: 200, index: 2, empty: Array(3..<200)),
            mentioning: path)
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("201 classes"), "\(error)")
            XCTAssertTrue("\(error)".contains("3..<200"), "\(error)")
        }
    }

    /// A missing class in the middle is the same mistake (the model would have a dead output).
    func testAGapInTheTrainingClassesIsAnError() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, trainLabels: Fixtures.idxLabels([3, 0, 1, 3]))
        let path = dir.file("train-labels-idx1-ubyte")
        assertLoadThrows(
            dir.path, .classesWithoutInstances(file: path, largestLabel: 3, index: 0, empty: [2]), mentioning: path)
    }

    /// `--limit` does not change the rule: the class count comes from the whole file.
    func testTheRuleAppliesToTheWholeFileUnderALimit() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, trainLabels: Fixtures.idxLabels([2, 0, 1, 200]))
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path, limit: 2))
    }

    func testConsistentLabelsStillLoad() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir)
        let splits = try DatasetLoader.load(directory: dir.path)
        XCTAssertEqual(splits.train.classCount, 3)
        XCTAssertEqual(splits.test.classCount, 3)
    }

    /// Test labels beyond the training classes name the test file (train and test disagree).
    func testTestLabelBeyondTheTrainingClassesNamesTheTestFile() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir, testLabels: Fixtures.idxLabels([1, 200]))
        let path = dir.file("t10k-labels-idx1-ubyte")
        assertLoadThrows(dir.path, .labelOutOfRange(file: path, index: 1, value: 200, validRange: 0..<3), mentioning: path)
    }

    /// CIFAR-100's coarse label is not trained on, but one outside its 20 classes means the
    /// records are misaligned.
    func testCIFAR100CoarseLabelIsRangeChecked() throws {
        let dir = try TemporaryDirectory()
        let image = [UInt8](repeating: 7, count: 3 * 32 * 32)
        try dir.write("train.bin", [3, 42] + image + [20, 1] + image)
        try dir.write("test.bin", [0, 7] + image)
        let path = dir.file("train.bin")
        assertLoadThrows(dir.path, .labelOutOfRange(file: path, index: 1, value: 20, validRange: 0..<20), mentioning: path)
    }

    func testADirectoryWithTwoFormatsIsRefusedNamingBoth() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir)
        let image = [UInt8](repeating: 7, count: 3 * 32 * 32)
        try dir.write("train.bin", [3, 42] + image)
        try dir.write("test.bin", [0, 7] + image)
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            guard case .mixedFormats(let directory, let found)? = error as? DatasetError else {
                return XCTFail("expected mixedFormats, got \(error)")
            }
            XCTAssertEqual(directory, dir.path)
            XCTAssertEqual(found.count, 2)
            let text = "\(error)"
            XCTAssertTrue(text.contains("IDX") && text.contains("CIFAR-100"), text)
            XCTAssertTrue(text.contains("one format"), text)
            XCTAssertFalse(text.contains("\n"), text)
        }
    }

    /// A negative limit is an error, not a crash.
    func testNegativeLimitsThrow() throws {
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir)
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path, limit: -1))
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path, testLimit: -1))
    }

    /// A directory we may not list is reported as such, not as "no dataset files found".
    /// Root reads everything, so the case can only be seen as another user.
    func testUnreadableDirectorySaysPermissionDenied() throws {
        if getuid() == 0 { throw XCTSkip("running as root, which permissions do not stop") }
        let dir = try TemporaryDirectory()
        try Fixtures.writeIDXSet(in: dir)
        chmod(dir.path, 0)
        defer { chmod(dir.path, 0o755) }
        XCTAssertThrowsError(try DatasetLoader.load(directory: dir.path)) { error in
            XCTAssertTrue("\(error)".contains("Permission denied"), "\(error)")
            XCTAssertFalse("\(error)".contains("no dataset files found"), "\(error)")
        }
    }
}
