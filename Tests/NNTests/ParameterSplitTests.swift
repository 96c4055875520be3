import NN
import XCTest

final class ParameterSplitTests: XCTestCase {
    /// Every float belongs to exactly one piece, for contiguous and row splits on 1-4 threads.
    func testPiecesCoverEveryFloatOnce() {
        let models: [[[Int]]] = [
            [[256, 784], [256], [128, 256], [128], [10, 128], [10]],  // the mlp
            [[64, 3, 3, 3], [64], [64], [128, 64, 3, 3], [7], [1_000, 512], [1_000]],
            [[5], [3, 2]],  // too small to split
        ]
        for shapes in models {
            let count = shapes.reduce(0) { $0 + $1.reduce(1, *) }
            for threads in 1...4 {
                for split in [ParameterSplit.byRows(shapes: shapes, compute: Compute(threads: threads)),
                              .contiguous(count: count, compute: Compute(threads: threads))] {
                    XCTAssertEqual(split.count, count)
                    var seen = [Int](repeating: 0, count: count)
                    for piece in split.pieces {
                        XCTAssertEqual(piece, piece.sorted { $0.lowerBound < $1.lowerBound })
                        for range in piece { for i in range { seen[i] += 1 } }
                    }
                    XCTAssertEqual(seen, [Int](repeating: 1, count: count), "\(shapes) on \(threads) threads")
                    let blocksPerThread = ((count + 15) / 16) / (ParameterSplit.minimumPerThread / 16)
                    XCTAssertEqual(split.pieces.count, max(1, min(threads, blocksPerThread)))
                }
            }
        }
    }

    /// On 2 threads the mlp's tensors are cut where Linear cuts its outputs: rows 0..<128 of
    /// the first layer and 0..<64 of the second (with their biases) on thread 0.
    func testRowsFollowLinearsOutputs() {
        let shapes = [[256, 784], [256], [128, 256], [128], [10, 128], [10]]
        let split = ParameterSplit.byRows(shapes: shapes, compute: Compute(threads: 2))
        let w1 = 256 * 784, b1 = w1 + 256, w2 = b1 + 128 * 256, b2 = w2 + 128, w3 = b2 + 1_280
        XCTAssertEqual(split.pieces[0], [
            0..<(128 * 784), w1..<(w1 + 128), b1..<(b1 + 64 * 256), w2..<(w2 + 64), b2..<(w3 + 10),
        ])
        XCTAssertEqual(split.pieces[1], [
            (128 * 784)..<w1, (w1 + 128)..<b1, (b1 + 64 * 256)..<w2, (w2 + 64)..<b2,
        ])
        XCTAssertEqual(split.shifted(by: 5).pieces[1].first, (128 * 784 + 5)..<(w1 + 5))
    }

    /// The contiguous split is the one the update used before: 16-float blocks in equal shares.
    func testContiguousSplitsInBlocksOf16() {
        let split = ParameterSplit.contiguous(count: 100_003, compute: Compute(threads: 2))
        XCTAssertEqual(split.pieces, [[0..<50_000], [50_000..<100_003]])
    }

    /// A model's split follows its thread count.
    func testModelSplitFollowsItsThreads() throws {
        let model = try ModelPreset.mlp.build(
            channels: 1, height: 28, width: 28, classes: 10, maxBatch: 4, seed: 0, compute: Compute(threads: 2))
        XCTAssertEqual(model.parameterSplit.pieces.count, 2)
        model.compute = .serial
        XCTAssertEqual(model.parameterSplit.pieces, [[0..<model.parameters.count]])
    }
}
