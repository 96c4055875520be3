import Datasets
import XCTest

/// `Dataset` slicing keeps images, labels and ids aligned.
final class DatasetTests: XCTestCase {
    private func sample() -> Dataset {
        // 4 samples of 2 channels x 1 x 2: sample s has bytes 10s, 10s+1, 10s+2, 10s+3.
        Dataset(
            images: (0..<4).flatMap { s in (0..<4).map { UInt8(10 * s + $0) } }, labels: [3, 1, 2, 0],
            ids: [40, 41, 42, 43], channels: 2, height: 1, width: 2, classCount: 4)
    }

    func testShape() {
        let d = sample()
        XCTAssertEqual(d.count, 4)
        XCTAssertEqual(d.sampleSize, 4)
    }

    func testPrefix() {
        let p = sample().prefix(2)
        XCTAssertEqual(p.count, 2)
        XCTAssertEqual(p.images, [0, 1, 2, 3, 10, 11, 12, 13])
        XCTAssertEqual(p.labels, [3, 1])
        XCTAssertEqual(p.ids, [40, 41])
        XCTAssertEqual(p.classCount, 4)
        XCTAssertEqual(sample().prefix(10).count, 4, "a prefix longer than the dataset keeps everything")
    }

    func testSubsetKeepsIds() {
        let s = sample().subset(slots: [3, 1])
        XCTAssertEqual(s.images, [30, 31, 32, 33, 10, 11, 12, 13])
        XCTAssertEqual(s.labels, [0, 1])
        XCTAssertEqual(s.ids, [43, 41])
        XCTAssertEqual(s.channels, 2)
        XCTAssertEqual(sample().subset(slots: []).count, 0)
    }
}
