import Datasets
import XCTest

/// Asserts that loading `directory` throws exactly `expected`, and that its description is one line naming the file.
func assertLoadThrows(
    _ directory: String, _ expected: DatasetError, mentioning path: String? = nil,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertThrowsError(try DatasetLoader.load(directory: directory), file: file, line: line) { error in
        guard let error = error as? DatasetError else {
            return XCTFail("expected DatasetError, got \(error)", file: file, line: line)
        }
        XCTAssertEqual(error, expected, file: file, line: line)
        XCTAssertFalse(error.description.contains("\n"), "description spans lines: \(error)", file: file, line: line)
        if let path {
            XCTAssertTrue(error.description.contains(path), "\(error) does not name \(path)", file: file, line: line)
        }
    }
}
