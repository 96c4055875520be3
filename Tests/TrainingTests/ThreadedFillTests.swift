import Datasets
import NN
import Training
import XCTest

/// The batch's instances normalized on two threads are the bits of one thread, with and
/// without augmentation, for batches that split evenly, raggedly, or not at all.
final class ThreadedFillTests: XCTestCase {
    func testTwoThreadsWriteTheBitsOfOne() {
        let count = 50, channels = 3, side = 8, size = channels * side * side
        let images = (0..<(count * size)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        let dataset = Dataset(
            images: images, labels: (0..<count).map { Int32($0 % 7) }, ids: (0..<count).map { Int32(1_000 + $0) },
            channels: channels, height: side, width: side, classCount: 7)
        let normalization = Normalization(computedFrom: dataset)
        let key = AugmentationKey(seed: 3, epoch: 5)
        for batch in [1, 7, 16, 37] {
            let slots = (0..<batch).map { ($0 * 13) % count }
            for augmentation in [nil, (Augmentation.cropFlip, key)] {
                func filled(_ compute: Compute) -> (output: [UInt32], labels: [Int32]) {
                    var output = [Float](repeating: .nan, count: batch * size)
                    var labels = [Int32](repeating: -1, count: batch)
                    slots.withUnsafeBufferPointer { slots in
                        output.withUnsafeMutableBufferPointer { output in
                            labels.withUnsafeMutableBufferPointer { labels in
                                normalization.fill(
                                    from: dataset, slots: slots, output: output.baseAddress!, labels: labels.baseAddress!,
                                    augmentation: augmentation, compute: compute)
                            }
                        }
                    }
                    return (output.map(\.bitPattern), labels)
                }
                let one = filled(.serial), two = filled(Compute(threads: 2))
                XCTAssertFalse(one.output.contains(Float.nan.bitPattern), "batch \(batch)")
                XCTAssertEqual(one.output, two.output, "batch \(batch), augmentation \(augmentation != nil)")
                XCTAssertEqual(one.labels, two.labels)
                XCTAssertEqual(one.labels, slots.map { Int32($0 % 7) })
            }
        }
    }
}
