import Foundation
import NN
import NNTestSupport
import XCTest

/// Every sgemm shape our models issue in a training step (traced into
/// scripts/experiments/gemm-shapes.tsv: mlp, cnn, resnet18 width 16 and 64, 1 and 2 threads),
/// run through `BLAS.sgemm` with the kernels this machine's BLAS picks and checked against a
/// float64 reference: a BLAS whose kernels compute wrong results on this CPU (as some
/// OpenBLAS builds do under some `OPENBLAS_CORETYPE` settings) fails here, naming the shape.
/// libxsmm's kernels are checked the same way on every machine, routed to or not.
final class GEMMShapesTests: XCTestCase {
    private struct Shape: Hashable {
        var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, beta: Float
    }

    private func shapes() throws -> [Shape] {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/experiments/gemm-shapes.tsv")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        let header = lines[0].split(separator: "\t").map(String.init)
        func column(_ name: String) throws -> Int { try XCTUnwrap(header.firstIndex(of: name), name) }
        let (ta, tb, m, n, k) = try (column("transA"), column("transB"), column("m"), column("n"), column("k"))
        let (lda, ldb, ldc, beta) = try (column("lda"), column("ldb"), column("ldc"), column("beta"))
        var seen = Set<Shape>()
        return try lines.dropFirst().compactMap { line in
            let f = line.split(separator: "\t").map(String.init)
            func int(_ i: Int) throws -> Int { try XCTUnwrap(Int(f[i]), "\(line)") }
            let shape = try Shape(
                transA: f[ta] == "T", transB: f[tb] == "T", m: int(m), n: int(n), k: int(k), lda: int(lda),
                ldb: int(ldb), ldc: int(ldc), beta: Float(int(beta)))
            return seen.insert(shape).inserted ? shape : nil
        }
    }

    /// A shape's operands and a copy of C before the call, from a fixed seed.
    private typealias GEMM = (
        _ shape: Shape, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>
    ) -> Bool

    /// Runs `gemm` on every shape and checks 64 entries of each result against float64 dot
    /// products. Returns how many shapes `gemm` computed (it returns false where it has no
    /// kernel) and the worst relative error.
    private func checkEveryShape(_ gemm: GEMM, label: String) throws -> (computed: Int, worst: Double) {
        let all = try shapes()
        XCTAssertGreaterThan(all.count, 50)
        var generator = SeededGenerator(seed: 23)
        var worst = 0.0, computed = 0
        for shape in all {
            let aRows = shape.transA ? shape.k : shape.m, bRows = shape.transB ? shape.n : shape.k
            let a = (0..<(aRows * shape.lda)).map { _ in generator.uniform(-1, 1) }
            let b = (0..<(bRows * shape.ldb)).map { _ in generator.uniform(-1, 1) }
            let c0 = (0..<(shape.m * shape.ldc)).map { _ in generator.uniform(-1, 1) }
            var c = c0
            let ran = a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in gemm(shape, a.baseAddress!, b.baseAddress!, c.baseAddress!) }
                }
            }
            guard ran else {
                XCTAssertEqual(c, c0, "\(label) declined \(shape) but wrote C")
                continue
            }
            computed += 1
            // 64 entries (the corners among them), each against a float64 dot product; the
            // error is measured against the sum of the magnitudes of its terms.
            let picks = [(0, 0), (shape.m - 1, shape.n - 1), (0, shape.n - 1), (shape.m - 1, 0)]
                + (0..<60).map { _ in (Int.random(in: 0..<shape.m, using: &generator), Int.random(in: 0..<shape.n, using: &generator)) }
            for (i, j) in picks {
                var sum = Double(shape.beta) * Double(c0[i * shape.ldc + j]), magnitude = abs(sum)
                for p in 0..<shape.k {
                    let x = Double(shape.transA ? a[p * shape.lda + i] : a[i * shape.lda + p])
                    let y = Double(shape.transB ? b[j * shape.ldb + p] : b[p * shape.ldb + j])
                    sum += x * y
                    magnitude += abs(x * y)
                }
                let error = abs(Double(c[i * shape.ldc + j]) - sum) / max(magnitude, 1e-30)
                worst = max(worst, error)
                XCTAssertLessThan(error, 1e-5, "\(shape) at [\(i), \(j)]: \(c[i * shape.ldc + j]) vs \(sum), \(label)")
            }
            // Outside the m x n block, in the ldc padding, nothing may change.
            for i in 0..<shape.m where shape.ldc > shape.n {
                XCTAssertEqual(c[(i * shape.ldc + shape.n)..<(i * shape.ldc + shape.ldc)], c0[(i * shape.ldc + shape.n)..<(i * shape.ldc + shape.ldc)], "\(shape): \(label) wrote past n")
            }
        }
        return (computed, worst)
    }

    /// A row-major GEMM entry of `BLAS` without alpha: transA, transB, m, n, k, a, lda, b, ldb,
    /// beta, c, ldc.
    private typealias Entry = (
        Bool, Bool, Int, Int, Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, Float,
        UnsafeMutablePointer<Float>, Int
    ) -> Void

    /// The three paths model GEMMs take on this machine, at every shape: `BLAS.sgemm` (OpenBLAS,
    /// or libxsmm where `BLAS` routes every GEMM to it), `BLAS.tileSGEMM` (the Winograd tile
    /// GEMMs: libxsmm where `BLAS.libxsmmRoute` says so, OpenBLAS otherwise) and `sgemm` in
    /// `BLAS.inSmallKernelPieces` (OpenBLAS's small-matrix kernels, where it has them).
    func testEveryModelShapeAgreesWithAFloat64Reference() throws {
        let sgemm: Entry = {
            BLAS.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, a: $5, lda: $6, b: $7, ldb: $8, beta: $9, c: $10, ldc: $11)
        }
        // `sgemm` in the pieces `Linear` cuts for OpenBLAS's small-matrix kernels (where it has
        // them; else one call): C's rows for a transposed A (the weight gradient), else its
        // columns, as wide as `Linear` takes them for the form.
        let pieces: Entry = { transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc in
            let widest = BLAS.smallKernelWidest(transA: transA, transB: transB)
            if transA {
                BLAS.inSmallKernelPieces(0, m, otherSides: n * k, widest: widest) { o, count in
                    BLAS.sgemm(
                        transA: true, transB: transB, m: count, n: n, k: k, a: a + o, lda: lda, b: b, ldb: ldb,
                        beta: beta, c: c + o * ldc, ldc: ldc)
                }
            } else {
                BLAS.inSmallKernelPieces(0, n, otherSides: m * k, widest: widest) { o, count in
                    BLAS.sgemm(
                        transA: false, transB: transB, m: m, n: count, k: k, a: a, lda: lda,
                        b: transB ? b + o * ldb : b + o, ldb: ldb, beta: beta, c: c + o, ldc: ldc)
                }
            }
        }
        try withWatchdog("GEMMShapesTests") {
            for (label, entry) in [
                (BLAS.identity, sgemm), ("tile GEMMs, \(BLAS.kernelFamily)", BLAS.tileSGEMM as Entry),
                (
                    "small-kernel pieces of \(BLAS.smallKernelPiece.map(String.init) ?? "none"), \(BLAS.kernelFamily)",
                    pieces
                ),
            ] {
                let (computed, worst) = try checkEveryShape({ shape, a, b, c in
                    entry(
                        shape.transA, shape.transB, shape.m, shape.n, shape.k, a, shape.lda, b, shape.ldb, shape.beta,
                        c, shape.ldc)
                    return true
                }, label: label)
                print("GEMM shapes: \(computed) checked with \(label); worst relative error \(worst)")
            }
        }
    }

    /// libxsmm's kernels on their own, whether or not `BLAS` routes to them here, so that
    /// every machine the tests run on checks the code libxsmm generates for its CPU.
    /// Where libxsmm generates AVX or wider code, it must have a kernel for every shape (beta
    /// is 0 or 1 in all of them); on an SSE-only CPU it may decline (and never runs there).
    func testLibxsmmAgreesWithAFloat64ReferenceAtEveryModelShape() throws {
        let (computed, worst) = try checkEveryShape({ shape, a, b, c in
            BLAS.libxsmmSGEMM(
                transA: shape.transA, transB: shape.transB, m: shape.m, n: shape.n, k: shape.k,
                a: a, lda: shape.lda, b: b, ldb: shape.ldb, beta: shape.beta, c: c, ldc: shape.ldc)
        }, label: "libxsmm \(BLAS.libxsmmTarget)")
        if BLAS.libxsmmVectorFloats >= 8 {
            XCTAssertEqual(computed, try shapes().count, "libxsmm \(BLAS.libxsmmTarget) declined some model shapes")
        }
        print("GEMM shapes: \(computed) checked with libxsmm \(BLAS.libxsmmVersion) \(BLAS.libxsmmTarget); worst relative error \(worst)")
    }

    /// A beta other than 0 and 1 has no libxsmm kernel: declined, C untouched (then `sgemm`
    /// runs OpenBLAS), and `sgemm` still computes it.
    func testABetaLibxsmmHasNoKernelForFallsBackToOpenBLAS() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c: [Float] = [1, 1, 1, 1]
        let declined = !BLAS.libxsmmSGEMM(
            transA: false, transB: false, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, beta: 0.5, c: &c, ldc: 2)
        XCTAssertTrue(declined)
        XCTAssertEqual(c, [1, 1, 1, 1])
        BLAS.sgemm(transA: false, transB: false, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, beta: 0.5, c: &c, ldc: 2)
        XCTAssertEqual(c, [19.5, 22.5, 43.5, 50.5])
    }

    /// The routing rule: libxsmm runs every GEMM where OpenBLAS's kernel family is narrower
    /// than libxsmm's code, the Winograd tile GEMMs where both are AVX-512 (16 floats), and
    /// nothing otherwise; an unknown family counts as full width.
    func testLibxsmmRunsEverythingWhereOpenBLASKernelsAreNarrowerAndTilesWhereBothAreAVX512() {
        // It asks libxsmm and OpenBLAS what they run here: under a watchdog, as the GEMM check above.
        withWatchdog("GEMMShapesTests") {
            typealias Route = BLAS.LibxsmmRoute
            XCTAssertEqual(Route.choose(libxsmmFloats: 16, openBLASFloats: 4), .all)
            XCTAssertEqual(Route.choose(libxsmmFloats: 16, openBLASFloats: 8), .all)
            XCTAssertEqual(Route.choose(libxsmmFloats: 8, openBLASFloats: 4), .all)
            XCTAssertEqual(Route.choose(libxsmmFloats: 16, openBLASFloats: 16), .tiles)
            XCTAssertEqual(Route.choose(libxsmmFloats: 8, openBLASFloats: 8), .none)
            XCTAssertEqual(Route.choose(libxsmmFloats: 8, openBLASFloats: 16), .none)
            XCTAssertEqual(Route.choose(libxsmmFloats: 4, openBLASFloats: 4), .none)
            XCTAssertEqual(
                BLAS.libxsmmRoute,
                Route.choose(libxsmmFloats: BLAS.libxsmmVectorFloats, openBLASFloats: BLAS.vectorFloats(openBLASCore: BLAS.coreName)))
            XCTAssertEqual(BLAS.identity.contains("for the Winograd tile GEMMs"), BLAS.libxsmmRoute == .tiles, BLAS.identity)
            XCTAssertEqual(BLAS.kernelFamily.hasSuffix("-tiles"), BLAS.libxsmmRoute == .tiles, BLAS.kernelFamily)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "Prescott"), 4)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "Nehalem"), 4)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "Haswell"), 8)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "Zen"), 8)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "SkylakeX"), 16)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "Cooperlake"), 16)
            XCTAssertEqual(BLAS.vectorFloats(openBLASCore: "SomeFutureCore"), 16)
            XCTAssertEqual(BLAS.usesLibxsmm, BLAS.libxsmmVectorFloats > BLAS.vectorFloats(openBLASCore: BLAS.coreName))
            XCTAssertTrue([4, 8, 16].contains(BLAS.libxsmmVectorFloats))
            XCTAssertEqual(BLAS.identity.contains("libxsmm"), BLAS.libxsmmRoute != .none, BLAS.identity)
            XCTAssertEqual(BLAS.kernelFamily == BLAS.coreName, BLAS.libxsmmRoute == .none, BLAS.kernelFamily)
            print("GEMM routing: OpenBLAS \(BLAS.coreName), libxsmm \(BLAS.libxsmmTarget): \(BLAS.libxsmmRoute)")
        }
    }

    /// Pieces only for OpenBLAS's SkylakeX kernels and only for a GEMM beyond the small
    /// kernels' limit, each within it, as wide as the form allows; they cover the range in order.
    func testSmallKernelPiecesCutOnlyWhereTheSmallKernelsTakeThePieces() {
        withWatchdog("GEMMShapesTests.smallKernelPieces") {
            XCTAssertEqual(BLAS.smallKernelPiece(openBLASCore: "Cooperlake", libxsmmRunsAll: false), 16)
            XCTAssertEqual(BLAS.smallKernelPiece(openBLASCore: "SkylakeX", libxsmmRunsAll: false), 16)
            XCTAssertNil(BLAS.smallKernelPiece(openBLASCore: "SkylakeX", libxsmmRunsAll: true))
            XCTAssertNil(BLAS.smallKernelPiece(openBLASCore: "Haswell", libxsmmRunsAll: false))
            XCTAssertNil(BLAS.smallKernelPiece(openBLASCore: "Zen", libxsmmRunsAll: false))
            XCTAssertEqual(
                BLAS.smallKernelPiece,
                BLAS.smallKernelPiece(openBLASCore: BLAS.coreName, libxsmmRunsAll: BLAS.usesLibxsmm))
            func widths(_ start: Int, _ count: Int, otherSides: Int, widest: Int, piece: Int? = 16) -> [Int] {
                var seen: [Range<Int>] = []
                BLAS.inSmallKernelPieces(start, count, otherSides: otherSides, widest: widest, piece: piece) {
                    seen.append($0..<($0 + $1))
                }
                // The pieces cover the range, in order.
                XCTAssertEqual(seen.first?.lowerBound, start)
                XCTAssertEqual(seen.last?.upperBound, start + count)
                XCTAssertTrue(zip(seen, seen.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                return seen.map(\.count)
            }
            XCTAssertEqual(BLAS.smallKernelWidest(transA: false, transB: true), 16)
            XCTAssertEqual(BLAS.smallKernelWidest(transA: true, transB: false), 32)
            XCTAssertEqual(BLAS.smallKernelWidest(transA: false, transB: false), 64)
            let sixteen = [Int](repeating: 16, count: 8)
            // The mlp's forward (NT) on one thread of two: 128 outputs from 128, 64 x 784 per output.
            XCTAssertEqual(widths(128, 128, otherSides: 64 * 784, widest: 16), sixteen)
            // A ragged end: 100 outputs in six pieces of 16 and one of 4.
            XCTAssertEqual(widths(0, 100, otherSides: 64 * 784, widest: 16), [16, 16, 16, 16, 16, 16, 4])
            // The weight gradients (TN): 784 x 64 per row allows 16, 256 x 64 allows the widest, 32.
            XCTAssertEqual(widths(0, 128, otherSides: 784 * 64, widest: 32), sixteen)
            XCTAssertEqual(widths(0, 64, otherSides: 256 * 64, widest: 32), [32, 32])
            // The cnn's input gradient (NN), 3136 > 128 on one thread of two: 64 x 128 per column.
            XCTAssertEqual(widths(1568, 1568, otherSides: 64 * 128, widest: 64), [Int](repeating: 64, count: 24) + [32])
            // Within the limit already (the resnets' 512 > 10): one call.
            XCTAssertEqual(widths(0, 10, otherSides: 64 * 512, widest: 16), [10])
            // Not even 16 within the limit (the cnn's 3136 > 128 forward: 64 x 3136 per output): one call.
            XCTAssertEqual(widths(0, 64, otherSides: 64 * 3136, widest: 16), [64])
            // No small kernels: one call.
            XCTAssertEqual(widths(0, 128, otherSides: 64 * 784, widest: 16, piece: nil), [128])
        }
    }
}
