import Foundation
import NN
import XCTest

/// Every sgemm shape our models issue in a training step (traced into
/// scripts/experiments/gemm-shapes.tsv: mlp, cnn, resnet18 width 16 and 64, 1 and 2 threads),
/// run through `BLAS.sgemm` with the kernels this machine's BLAS picks and checked against a
/// float64 reference: a BLAS whose kernels compute wrong results on this CPU (as some
/// OpenBLAS builds do under some `OPENBLAS_CORETYPE` settings) fails here, naming the shape.
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

    func testEveryModelShapeAgreesWithAFloat64Reference() throws {
        let all = try shapes()
        XCTAssertGreaterThan(all.count, 50)
        var generator = SeededGenerator(seed: 23)
        var worst = 0.0
        for shape in all {
            let aRows = shape.transA ? shape.k : shape.m, bRows = shape.transB ? shape.n : shape.k
            let a = (0..<(aRows * shape.lda)).map { _ in generator.uniform(-1, 1) }
            let b = (0..<(bRows * shape.ldb)).map { _ in generator.uniform(-1, 1) }
            let c0 = (0..<(shape.m * shape.ldc)).map { _ in generator.uniform(-1, 1) }
            var c = c0
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        BLAS.sgemm(
                            transA: shape.transA, transB: shape.transB, m: shape.m, n: shape.n, k: shape.k,
                            a: a.baseAddress!, lda: shape.lda, b: b.baseAddress!, ldb: shape.ldb, beta: shape.beta,
                            c: c.baseAddress!, ldc: shape.ldc)
                    }
                }
            }
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
                XCTAssertLessThan(error, 1e-5, "\(shape) at [\(i), \(j)]: \(c[i * shape.ldc + j]) vs \(sum), \(BLAS.identity)")
            }
        }
        print("GEMM shapes: \(all.count) checked with \(BLAS.identity); worst relative error \(worst)")
    }
}
