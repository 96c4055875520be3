import XCTest

/// Asserts |a - b| <= absolute + relative * max(|a|, |b|) elementwise, naming the first bad index.
public func assertClose(
    _ actual: [Float], _ expected: [Float], absolute: Float = 1e-5, relative: Float = 1e-4,
    _ message: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "count mismatch \(message)", file: file, line: line)
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], b = expected[i]
        let tolerance = absolute + relative * max(abs(a), abs(b))
        if !(abs(a - b) <= tolerance) {
            XCTFail("index \(i): \(a) vs expected \(b) (tolerance \(tolerance)) \(message)", file: file, line: line)
            return
        }
    }
}
