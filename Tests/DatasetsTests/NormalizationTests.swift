import Datasets
import Foundation
import XCTest

/// Per-channel statistics and the normalized batch fill.
final class NormalizationTests: XCTestCase {
    /// 2 samples of 2 channels x 1 x 2.
    /// Channel 0 holds 0, 255, 255, 255 (of 255: 0, 1, 1, 1 -> mean 0.75, population std sqrt(0.1875)).
    /// Channel 1 is constant 51 (0.2 -> std 0, replaced by 1).
    private let dataset = Dataset(
        images: [0, 255, 51, 51, 255, 255, 51, 51], labels: [5, 7], ids: [100, 101],
        channels: 2, height: 1, width: 2, classCount: 8)

    func testMeanAndStdByHand() {
        let n = Normalization(computedFrom: dataset)
        XCTAssertEqual(n.mean.count, 2)
        XCTAssertEqual(n.mean[0], 0.75, accuracy: 1e-6)
        XCTAssertEqual(n.std[0], Float(0.1875.squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(n.mean[1], 0.2, accuracy: 1e-6)
        XCTAssertEqual(n.std[1], 1, "zero std is replaced by 1")
    }

    func testFillByHand() {
        let n = Normalization(computedFrom: dataset)
        let s = Float(0.1875.squareRoot())
        let indices: [Int] = [1, 0]
        var output = [Float](repeating: .nan, count: 8)
        var labels = [Int32](repeating: -1, count: 2)
        indices.withUnsafeBufferPointer { idx in
            output.withUnsafeMutableBufferPointer { out in
                labels.withUnsafeMutableBufferPointer { lab in
                    n.fill(from: dataset, slots: idx, output: out.baseAddress!, labels: lab.baseAddress!)
                }
            }
        }
        let expected: [Float] = [0.25 / s, 0.25 / s, 0, 0, -0.75 / s, 0.25 / s, 0, 0]
        for (got, want) in zip(output, expected) { XCTAssertEqual(got, want, accuracy: 1e-5) }
        XCTAssertEqual(labels, [7, 5])
    }

    func testFillMatchesFormulaOnRandomData() {
        var generator = SystemRandomNumberGenerator()
        let data = Dataset(
            images: (0..<(10 * 3 * 4 * 5)).map { _ in UInt8.random(in: 0...255, using: &generator) },
            labels: (0..<10).map { Int32($0 % 3) }, ids: Array(0..<10), channels: 3, height: 4, width: 5, classCount: 3)
        let n = Normalization(mean: [0.1, 0.5, 0.9], std: [0.2, 0.3, 2])
        let indices: [Int] = [9, 0, 4, 4]
        var output = [Float](repeating: .nan, count: indices.count * data.sampleSize)
        var labels = [Int32](repeating: -1, count: indices.count)
        indices.withUnsafeBufferPointer { idx in
            n.fill(from: data, slots: idx, output: &output, labels: &labels)
        }
        for (k, i) in indices.enumerated() {
            XCTAssertEqual(labels[k], data.labels[Int(i)])
            for j in 0..<data.sampleSize {
                let c = j / 20
                let want = (Float(data.images[Int(i) * data.sampleSize + j]) / 255 - n.mean[c]) / n.std[c]
                XCTAssertEqual(output[k * data.sampleSize + j], want, accuracy: 1e-5)
            }
        }
    }

    /// The fill is bit for bit the formula in Float, (v / 255 - mean) / std, for every byte
    /// value of every channel, in planes of 1 to 41 pixels (a faster fill that computes
    /// several pixels at a time must keep these bits for whole vectors and every tail).
    func testFillIsTheFormulaBitForBitForEveryByte() {
        let channels = 3
        let n = Normalization(mean: [0.1307, 0.5, 0.93], std: [0.3081, 0.29, 1.7])
        for width in 1...41 {
            let size = channels * width
            let count = (256 + width - 1) / width + 1
            // Instance k, channel c, pixel x holds byte (k * width + x + 85 * c) % 256: every
            // value in every channel.
            var images = [UInt8](repeating: 0, count: count * size)
            for k in 0..<count {
                for c in 0..<channels {
                    for x in 0..<width { images[k * size + c * width + x] = UInt8((k * width + x + 85 * c) % 256) }
                }
            }
            let data = Dataset(
                images: images, labels: [Int32](repeating: 0, count: count), ids: (0..<Int32(count)).map { $0 },
                channels: channels, height: 1, width: width, classCount: 1)
            let slots = Array((0..<count).reversed())
            var output = [Float](repeating: .nan, count: count * size)
            var labels = [Int32](repeating: -1, count: count)
            slots.withUnsafeBufferPointer { n.fill(from: data, slots: $0, output: &output, labels: &labels) }
            for (k, slot) in slots.enumerated() {
                for j in 0..<size {
                    let want = (Float(images[slot * size + j]) / 255 - n.mean[j / width]) / n.std[j / width]
                    let got = output[k * size + j]
                    guard got.bitPattern == want.bitPattern else {
                        return XCTFail("width \(width) slot \(slot) float \(j): \(got) vs \(want)")
                    }
                }
            }
        }
    }

    func testCodableRoundTrip() throws {
        let n = Normalization(computedFrom: dataset)
        let json = try JSONEncoder().encode(n)
        let object = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        XCTAssertEqual(Set(object?.keys ?? [:].keys), ["mean", "std"], "only the statistics are persisted")
        let decoded = try JSONDecoder().decode(Normalization.self, from: json)
        XCTAssertEqual(decoded, n)
        XCTAssertEqual(decoded.mean, n.mean)
        XCTAssertEqual(decoded.std, n.std)
        // The rebuilt lookup table must normalize like the original.
        let indices: [Int] = [0, 1]
        var a = [Float](repeating: 0, count: 8), b = [Float](repeating: 1, count: 8)
        var la = [Int32](repeating: 0, count: 2), lb = [Int32](repeating: 0, count: 2)
        indices.withUnsafeBufferPointer { idx in
            n.fill(from: dataset, slots: idx, output: &a, labels: &la)
            decoded.fill(from: dataset, slots: idx, output: &b, labels: &lb)
        }
        XCTAssertEqual(a, b)
    }

    func testDecodingRejectsMismatchedStatistics() {
        let json = Data(#"{"mean":[0.5,0.5],"std":[1]}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(Normalization.self, from: json))
        let zero = Data(#"{"mean":[0.5],"std":[0]}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(Normalization.self, from: zero))
    }

    func testEqualityIgnoresNothingButStatistics() {
        XCTAssertEqual(Normalization(mean: [0.5], std: [0.25]), Normalization(mean: [0.5], std: [0.25]))
        XCTAssertNotEqual(Normalization(mean: [0.5], std: [0.25]), Normalization(mean: [0.5], std: [0.5]))
    }
}
