import Foundation
import NN
import NNTestSupport
import XCTest

final class ComputeTests: XCTestCase {
    /// The partials of threads 1..<n are added to thread 0's sum in that order, for every
    /// float, split among the threads or not: the same bits as the loop of one thread
    /// (float addition is not associative, so a different order would show).
    func testAddPartialsAddsInThreadOrder() {
        withDeadline("ComputeTests") { Self.addPartialsInThreadOrder() }
    }

    private static func addPartialsInThreadOrder() {
        var generator = SeededGenerator(seed: 41)
        for floats in [0, 5, 300_007] {
            for partials in [0, 1, 3] {
                let stride = floats + 9
                let sources = (0..<(partials * stride)).map { _ in generator.uniform(-1, 1) * 1e3 }
                let start = (0..<floats).map { _ in generator.uniform(-1, 1) }
                var expected = start
                for j in 0..<partials {
                    for i in 0..<floats { expected[i] += sources[j * stride + i] }
                }
                for threads in [1, 2, 3] {
                    var y = start
                    sources.withUnsafeBufferPointer { s in
                        y.withUnsafeMutableBufferPointer { out in
                            Compute(threads: threads).addPartials(
                                partials, from: s.baseAddress ?? UnsafePointer(bitPattern: 16)!, stride: stride,
                                into: out.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!, floats: floats)
                        }
                    }
                    XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "\(floats) floats, \(partials) partials, \(threads) threads")
                }
            }
        }
    }

    /// Every index is visited exactly once, by chunks that tile 0..<count in order of
    /// their index, whatever the count (fewer items than threads included).
    func testChunksCoverEveryIndexOnce() {
        for threads in [1, 2, 3, 8] {
            let compute = Compute(threads: threads)
            for count in [0, 1, 2, 5, 64, 1000] {
                let visits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
                visits.initialize(repeating: 0, count: max(1, count))
                defer { visits.deallocate() }
                let ranges = UnsafeMutablePointer<Range<Int>>.allocate(capacity: threads)
                ranges.initialize(repeating: 0..<0, count: threads)
                defer { ranges.deallocate() }
                compute.indexedChunks(count) { chunk, range in
                    ranges[chunk] = range
                    for i in range { visits[i] += 1 }
                }
                XCTAssertEqual((0..<count).filter { visits[$0] != 1 }, [], "\(threads) threads, \(count) items")
                let pieces = compute.chunkCount(count)
                XCTAssertEqual(ranges[0].lowerBound, 0)
                for chunk in 1..<max(1, pieces) { XCTAssertEqual(ranges[chunk].lowerBound, ranges[chunk - 1].upperBound) }
                if count > 0 { XCTAssertEqual(ranges[pieces - 1].upperBound, count) }
            }
        }
    }

    /// A loop inside a piece, and loops started from several threads at once, run their
    /// pieces on the calling thread instead of waiting for the busy workers: nothing hangs
    /// and every piece runs once.
    func testNestedAndConcurrentLoopsComplete() {
        withDeadline("ComputeTests") { Self.nestedAndConcurrentLoops() }
    }

    private static func nestedAndConcurrentLoops() {
        let compute = Compute(threads: 4)
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 16 * 4)
        total.initialize(repeating: 0, count: 16 * 4)
        defer { total.deallocate() }
        compute.indexedChunks(4) { outer, _ in
            compute.indexedChunks(4) { inner, _ in total[outer * 4 + inner] += 1 }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: total, count: 16)), [Int](repeating: 1, count: 16))

        // Four threads each run 200 loops of 8 items; each item slot belongs to one
        // caller and, within a loop, to one piece.
        let visits = UnsafeMutablePointer<Int>.allocate(capacity: 4 * 8)
        visits.initialize(repeating: 0, count: 4 * 8)
        defer { visits.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<200 {
                compute.indexedChunks(8) { _, range in
                    for i in range { visits[caller * 8 + i] += 1 }
                }
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: visits, count: 32)), [Int](repeating: 200, count: 32))
    }

    /// Many short loops in a row (the pattern of a training step): the result of a
    /// reduction split over the threads is the same every time.
    func testRepeatedShortLoopsGiveTheSameResult() {
        withDeadline("ComputeTests") { Self.repeatedShortLoops() }
    }

    private static func repeatedShortLoops() {
        let compute = Compute(threads: 2)
        let data = (0..<4096).map { Float($0 % 17) - 8 }
        var results: Set<Float> = []
        data.withUnsafeBufferPointer { data in
            for _ in 0..<2000 {
                var partial: [Float] = [0, 0]
                partial.withUnsafeMutableBufferPointer { partial in
                    compute.indexedChunks(data.count) { chunk, range in
                        var sum: Float = 0
                        for i in range { sum += data[i] * 0.5 }
                        partial[chunk] = sum
                    }
                }
                results.insert(partial[0] + partial[1])
            }
        }
        XCTAssertEqual(results.count, 1)
    }
}
