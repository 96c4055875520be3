/// Which parts of a model's flat parameter buffer each thread updates (the optimizer) and
/// zeroes (the step's gradients).
///
/// `byRows` cuts every tensor by its rows (output features, output channels) in blocks of 16
/// rows, as `Linear` cuts its outputs over the threads: the thread that computed a
/// weight's gradient rows also zeroes and updates them, and finds them, with the updated
/// weights it reads in the next forward, in its own cache. Cutting the flat buffer in
/// halves instead handed whole stretches (the mlp: a tenth of its first layer and half of
/// its second) from one core to the other three times a step. Every parameter's update
/// reads only its own values, so any split gives the same bits.
public struct ParameterSplit: Sendable, Equatable {
    /// Floats covered (the ranges of all pieces together are 0..<count, each once).
    public let count: Int
    /// pieces[p]: the ranges piece p (thread p) handles, in increasing order.
    public let pieces: [[Range<Int>]]

    /// Parameters per thread below which an update is not split: a piece should outweigh the
    /// hand-over to a worker (a few microseconds).
    public static let minimumPerThread = 32_768

    public init(count: Int, pieces: [[Range<Int>]]) {
        self.count = count
        self.pieces = pieces
    }

    /// The pieces `compute` gives `count` floats with at least `minimumPerThread` each.
    static func pieceCount(_ count: Int, compute: Compute) -> Int {
        compute.chunkCount((count + 15) / 16, minimumPerChunk: minimumPerThread / 16)
    }

    /// One contiguous stretch per thread, starting at multiples of 16 floats.
    public static func contiguous(count: Int, compute: Compute) -> ParameterSplit {
        let n = pieceCount(count, compute: compute), blocks = (count + 15) / 16
        return ParameterSplit(count: count, pieces: (0..<n).map { p in
            [min(count, blocks * p / n * 16)..<min(count, blocks * (p + 1) / n * 16)]
        })
    }

    /// Tensors of the given shapes, laid out one after the other from 0, each cut by its
    /// first dimension (rows) in blocks of 16 rows, one piece per thread (a tensor of fewer
    /// blocks than pieces goes whole to the first).
    public static func byRows(shapes: [[Int]], compute: Compute) -> ParameterSplit {
        let count = shapes.reduce(0) { $0 + $1.reduce(1, *) }
        let n = pieceCount(count, compute: compute)
        var pieces = [[Range<Int>]](repeating: [], count: n)
        var offset = 0
        for shape in shapes {
            let rows = shape.first ?? 1, rowSize = shape.dropFirst().reduce(1, *)
            // Fewer blocks than pieces: all on thread 0, where Linear keeps an output too
            // small to cut.
            let blocks = (rows + 15) / 16, cut = blocks >= n
            for p in 0..<n {
                let first = cut ? min(rows, blocks * p / n * 16) : 0
                let end = cut ? min(rows, blocks * (p + 1) / n * 16) : p == 0 ? rows : 0
                guard first < end else { continue }
                let range = (offset + first * rowSize)..<(offset + end * rowSize)
                if let last = pieces[p].last, last.upperBound == range.lowerBound {
                    pieces[p][pieces[p].count - 1] = last.lowerBound..<range.upperBound
                } else {
                    pieces[p].append(range)
                }
            }
            offset += rows * rowSize
        }
        return ParameterSplit(count: count, pieces: pieces)
    }

    /// The same pieces over a buffer in which these floats start at `offset`.
    public func shifted(by offset: Int) -> ParameterSplit {
        ParameterSplit(count: count, pieces: pieces.map { $0.map { ($0.lowerBound + offset)..<($0.upperBound + offset) } })
    }

    /// Calls `body` on every range, each piece's ranges in order on its own thread of
    /// `compute` (all on the calling thread when there is one piece). `file` and `line`
    /// name the loop for `LoopProfile` (the caller's, by default).
    public func forEachRange(
        compute: Compute, file: StaticString = #fileID, line: UInt = #line, _ body: (Range<Int>) -> Void
    ) {
        compute.chunks(pieces.count, file: file, line: line) { chunk in
            for piece in chunk { for range in pieces[piece] { body(range) } }
        }
    }
}
