import Foundation
import NN
import XCTest

final class SeededGeneratorTests: XCTestCase {
    private func draw(_ generator: inout SeededGenerator, _ count: Int) -> [UInt64] {
        (0..<count).map { _ in generator.next() }
    }

    /// Reference SplitMix64 (Vigna), written independently of the library.
    private func splitMix64(_ seed: UInt64, count: Int) -> [UInt64] {
        var x = seed
        return (0..<count).map { _ in
            x = x &+ 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// xoshiro256** from the state (1, 2, 3, 4): the reference implementation's first outputs.
    func testKnownXoshiroOutputs() {
        var generator = SeededGenerator(state: [1, 2, 3, 4])
        XCTAssertEqual(draw(&generator, 3), [11520, 0, 1_509_978_240])
    }

    /// Without streams the state is the first four SplitMix64 outputs of the seed
    /// (pinned so that seeded runs stay reproducible across versions).
    func testSeedingIsSplitMix64() {
        XCTAssertEqual(splitMix64(0, count: 1), [0xE220_A839_7B1D_CDAF])
        for seed: UInt64 in [0, 1, 42, .max] {
            XCTAssertEqual(SeededGenerator(seed: seed).stateWords, splitMix64(seed, count: 4), "seed \(seed)")
        }
    }

    func testSameSeedAndStreamsGiveTheSameSequence() {
        var a = SeededGenerator(seed: 42, streams: 3, 7)
        var b = SeededGenerator(seed: 42, streams: 3, 7)
        XCTAssertEqual(a, b)
        XCTAssertEqual(draw(&a, 100), draw(&b, 100))
        XCTAssertEqual(a, b)
    }

    func testDifferentSeedsAndStreamsDiffer() {
        let variants: [SeededGenerator] = [
            SeededGenerator(seed: 42),
            SeededGenerator(seed: 43),
            SeededGenerator(seed: 42, streams: 0),
            SeededGenerator(seed: 42, streams: 1),
            SeededGenerator(seed: 42, streams: 2),
            SeededGenerator(seed: 42, streams: 1, 0),
            SeededGenerator(seed: 42, streams: 0, 1),
            SeededGenerator(seed: 42, streams: 1, 1),
            SeededGenerator(seed: 43, streams: 1),
        ]
        var sequences = Set<[UInt64]>()
        for var generator in variants { sequences.insert(draw(&generator, 8)) }
        XCTAssertEqual(sequences.count, variants.count, "two seed/stream combinations share a sequence")
        // Streams of one seed (e.g. ranks) do not overlap in their first outputs.
        var firsts = Set<UInt64>()
        for rank: UInt64 in 0..<64 {
            var generator = SeededGenerator(seed: 7, streams: 0, rank)
            firsts.formUnion(draw(&generator, 16))
        }
        XCTAssertEqual(firsts.count, 64 * 16)
    }

    func testBelowStaysInRangeAndIsRoughlyUniform() {
        var generator = SeededGenerator(seed: 5)
        for bound in [1, 2, 3, 7, 10, 1000, 1 << 40, Int.max] {
            for _ in 0..<500 {
                let value = generator.below(bound)
                XCTAssertTrue(value >= 0 && value < bound, "\(value) not in 0..<\(bound)")
            }
        }
        // Chi-square over 10 bins (9 degrees of freedom; p = 1e-6 at about 45).
        for bound in [10, 6, 13] {
            let draws = 60_000
            var counts = [Int](repeating: 0, count: bound)
            for _ in 0..<draws { counts[generator.below(bound)] += 1 }
            let expected = Double(draws) / Double(bound)
            let chi2 = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
            XCTAssertLessThan(chi2, 3.0 * Double(bound) + 20, "bound \(bound): \(counts)")
        }
        // With bound = 0.375 * 2^64, `next() % bound` would hit the lower two thirds of the
        // range 3 times out of 8 more often than the rest (P(lower half) = 0.5625).
        let large = Int.max / 4 * 3
        var low = 0
        for _ in 0..<20_000 where generator.below(large) < large / 2 { low += 1 }
        XCTAssertEqual(Double(low) / 20_000, 0.5, accuracy: 0.02)
    }

    func testUnitFloatsAndUniform() {
        var generator = SeededGenerator(seed: 9)
        var sum = 0.0
        var below = 0
        for _ in 0..<20_000 {
            let u = generator.nextUnitFloat()
            XCTAssertTrue(u >= 0 && u < 1)
            sum += Double(u)
            if u < 0.25 { below += 1 }
            let v = generator.uniform(-0.5, 2)
            XCTAssertTrue(v >= -0.5 && v <= 2, "\(v)")
        }
        XCTAssertEqual(sum / 20_000, 0.5, accuracy: 0.01)
        XCTAssertEqual(Double(below) / 20_000, 0.25, accuracy: 0.01)
    }

    func testShuffleIsADeterministicPermutation() {
        let original = Array(0..<100)
        var a = original, b = original
        var g1 = SeededGenerator(seed: 11, streams: 2)
        var g2 = SeededGenerator(seed: 11, streams: 2)
        g1.shuffle(&a)
        g2.shuffle(&b)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.sorted(), original)
        XCTAssertNotEqual(a, original)
        var c = original
        var g3 = SeededGenerator(seed: 12, streams: 2)
        g3.shuffle(&c)
        XCTAssertNotEqual(a, c)
        // Edge cases.
        var empty: [Int] = []
        var one = [5]
        g1.shuffle(&empty)
        g1.shuffle(&one)
        XCTAssertEqual(empty, [])
        XCTAssertEqual(one, [5])
    }

    /// All 6 orders of 3 elements are equally likely (a Fisher-Yates off-by-one would not be).
    func testShuffleIsUniform() {
        var generator = SeededGenerator(seed: 13)
        var counts: [[Int]: Int] = [:]
        let draws = 30_000
        for _ in 0..<draws {
            var values = [0, 1, 2]
            generator.shuffle(&values)
            counts[values, default: 0] += 1
        }
        XCTAssertEqual(counts.count, 6)
        for (order, count) in counts {
            XCTAssertEqual(Double(count) / Double(draws), 1.0 / 6, accuracy: 0.015, "\(order)")
        }
        // Every element reaches every position of a longer array.
        var positions = [[Int]](repeating: [Int](repeating: 0, count: 8), count: 8)
        for _ in 0..<8000 {
            var values = Array(0..<8)
            generator.shuffle(&values)
            for (position, value) in values.enumerated() { positions[value][position] += 1 }
        }
        for value in 0..<8 {
            for position in 0..<8 {
                XCTAssertEqual(Double(positions[value][position]) / 8000, 0.125, accuracy: 0.03, "\(value) at \(position)")
            }
        }
    }

    func testStateRoundTrip() throws {
        var generator = SeededGenerator(seed: 99, streams: 1, 2)
        _ = draw(&generator, 17)
        let words = generator.stateWords
        XCTAssertEqual(words.count, 4)
        var restored = SeededGenerator(state: words)
        XCTAssertEqual(restored, generator)
        XCTAssertEqual(draw(&restored, 50), draw(&generator, 50))
        XCTAssertEqual(restored.stateWords, generator.stateWords)

        // Codable as the four words.
        let data = try JSONEncoder().encode(generator)
        XCTAssertEqual(try JSONDecoder().decode([UInt64].self, from: data), generator.stateWords)
        var decoded = try JSONDecoder().decode(SeededGenerator.self, from: data)
        XCTAssertEqual(draw(&decoded, 10), draw(&generator, 10))
    }

    /// Works as the standard library's RandomNumberGenerator.
    func testDrivesStandardLibraryRandomness() {
        var a = SeededGenerator(seed: 1)
        var b = SeededGenerator(seed: 1)
        let x = (0..<20).map { _ in Int.random(in: 0..<1000, using: &a) }
        let y = (0..<20).map { _ in Int.random(in: 0..<1000, using: &b) }
        XCTAssertEqual(x, y)
        XCTAssertTrue(x.allSatisfy { (0..<1000).contains($0) })
    }
}
