/// Conv2d by Winograd for 3x3 kernels with stride 2 (`StrideTwoWinogradPass`: 2x2 output
/// tiles from 5x5 patches, 25 sgemms per block, 1.44x fewer multiplications than direct).
///
///   forward   U = transform(W),  y = conv(x) tile block by tile block
///   backward  db += sum(dy);  per block dU += dM V^T and dx = B (U^T dM) B^T;  dW += G^T dU G
///
/// Threads: as the other paths, one contiguous range of images per thread with
/// single-threaded sgemm; dU is summed per thread and added in thread order.
///
/// Scratch: U (25 Cin Cout floats, shared), then per thread dU (as large), one block of V
/// and M, and the row buffers.
struct StrideTwoWinogradPlan {
    let pass: StrideTwoWinogradPass
    let perPiece: Int
    /// Offsets inside one thread's scratch (dU first).
    let blockOffset: Int, outputBlockOffset: Int, rowsOffset: Int
    var weightFloats: Int { pass.weightFloats }

    /// `batch` images over `pieces` threads: blocks are sized for the largest piece.
    init(geometry g: ConvGeometry, outChannels: Int, batch: Int, pieces: Int) {
        pass = StrideTwoWinogradPass(
            inChannels: g.inChannels, outChannels: outChannels, height: g.height, width: g.width, padding: g.padding,
            outHeight: g.outHeight, outWidth: g.outWidth, imagesPerPiece: max(1, (batch + pieces - 1) / max(1, pieces)))
        func rounded(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
        blockOffset = rounded(pass.weightFloats)
        outputBlockOffset = blockOffset + rounded(pass.inputBlockFloats)
        rowsOffset = outputBlockOffset + rounded(pass.outputBlockFloats)
        perPiece = rowsOffset + rounded(pass.rowBufferFloats)
    }

    func scratch(pieces: Int) -> Int { weightFloats + pieces * perPiece }
}

extension Conv2d {
    /// Whether this layer runs the stride-2 Winograd pass (the resolved algorithm is
    /// `winograd` and the stride 2).
    var usesStrideTwoWinograd: Bool { stride == 2 && resolvedAlgorithm == .winograd }

    func strideTwoWinogradPlan(batch: Int, pieces: Int) -> StrideTwoWinogradPlan {
        StrideTwoWinogradPlan(geometry: geometry, outChannels: outChannels, batch: batch, pieces: pieces)
    }

    func forwardStrideTwoWinograd(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext
    ) {
        let pieces = context.compute.chunkCount(batch)
        let plan = strideTwoWinogradPlan(batch: batch, pieces: pieces)
        precondition(context.scratch.count >= plan.scratch(pieces: pieces), "Conv2d: the model's scratch is too small")
        let u = context.scratch.baseAddress!
        plan.pass.transformWeights(context.parameters + weightOffset, into: u, compute: context.compute)
        let bias: UnsafePointer<Float>? = hasBias ? context.parameters + biasOffset : nil
        context.compute.indexedChunks(batch) { piece, images in
            let own = u + plan.weightFloats + piece * plan.perPiece
            plan.pass.convolve(
                x, images: images, u: u, bias: bias, into: y, v: own + plan.blockOffset,
                m: own + plan.outputBlockOffset, rows: own + plan.rowsOffset)
        }
    }

    func backwardStrideTwoWinograd(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
        gradients: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext
    ) {
        let pieces = context.compute.chunkCount(batch)
        let plan = strideTwoWinogradPlan(batch: batch, pieces: pieces)
        precondition(context.scratch.count >= plan.scratch(pieces: pieces), "Conv2d: the model's scratch is too small")
        if hasBias { accumulateBiasGradient(dy, into: gradients + biasOffset, batch: batch, compute: context.compute) }
        let u = context.scratch.baseAddress!
        if dx != nil { plan.pass.transformWeights(context.parameters + weightOffset, into: u, compute: context.compute) }
        context.compute.indexedChunks(batch) { piece, images in
            let own = u + plan.weightFloats + piece * plan.perPiece
            own.update(repeating: 0, count: plan.weightFloats)
            plan.pass.backward(
                x, dy, images: images, u: u, du: own, dx: dx, v: own + plan.blockOffset, m: own + plan.outputBlockOffset,
                rows: own + plan.rowsOffset)
        }
        // dU summed in thread order into the first thread's, then dW += G^T dU G.
        let first = u + plan.weightFloats
        context.compute.addPartials(
            pieces - 1, from: first + plan.perPiece, stride: plan.perPiece, into: first, floats: plan.weightFloats)
        plan.pass.accumulateWeightGradient(first, into: gradients + weightOffset, compute: context.compute)
    }
}
