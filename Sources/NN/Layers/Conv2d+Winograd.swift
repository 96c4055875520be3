/// Conv2d by Winograd F(2x2, 3x3) or F(4x4, 3x3) (`WinogradPass`) for 3x3 kernels with stride 1.
///
///   forward   U = transform(W),  y = conv(x) tile block by tile block (16 or 36 sgemms each)
///   backward  db += sum(dy);  dU += dM V^T per block, dW += G^T dU G;
///             dx = conv(dy) with the flipped, transposed weights and padding 2 - p
///
/// Threads: as the lowered path, one contiguous range of images per thread with
/// single-threaded sgemm; dU is summed per thread and added in thread order. Outputs of one
/// tile per image split channels instead (`WinogradChannelPlan`, Conv2d+WinogradByChannels.swift).
///
/// Scratch: U (16 or 36 Cin Cout floats, shared), then per thread dU (as large), one block
/// of V and M, and the row buffers.
struct WinogradPlan {
    /// Output tile side: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3).
    let tile: Int
    /// x -> y, and dy -> dx (the input gradient as a convolution with padding 2 - p).
    let forward: WinogradPass
    let inputGradient: WinogradPass
    let weightFloats: Int
    let perPiece: Int
    /// Offsets inside one thread's scratch.
    let blockOffset: Int, outputBlockOffset: Int, rowsOffset: Int

    /// 3x3 kernel, stride 1, padding at most 2 (so that the input gradient is a convolution
    /// with non-negative padding).
    static func applies(to geometry: ConvGeometry) -> Bool {
        geometry.kernel == 3 && geometry.stride == 1 && geometry.padding <= 2
    }

    /// Where Winograd is faster than the lowered path: channels on both sides (a GEMM
    /// with k = Cin = 1 gains nothing from fewer multiplications).
    static func pays(for geometry: ConvGeometry, outChannels: Int) -> Bool {
        applies(to: geometry) && geometry.inChannels >= 8 && outChannels >= 8
    }

    /// Where F(4x4, 3x3) is faster than F(2x2, 3x3) (measured on 1 and 2 threads, see
    /// BENCHMARKS.md): the sgemms must dominate the transforms.
    /// - Wide planes: at least 64 channels on both sides and outputs of at least 16x16
    ///   (64>64 at 32x32: 1.35x; 128>128 at 16x16: 1.09-1.14x), or at least 256 channels and
    ///   8x8; but not 32>32 at 16x16 or 64>64 at 14x14 (0.90-0.96x).
    /// - Narrow planes (outputs up to 8x8, whose tile rows share the transforms' SIMD lanes):
    ///   from 16 channels on both sides where F(4x4) needs at most 0.6 of F(2x2)'s
    ///   multiplications per output, i.e. sides of 3, 4, 7 or 8 (64>64 at 8x8: 1.19x, at 7x7
    ///   1.12x, 128>128 at 4x4 1.23x, 32>64 at 8x8 1.27x; 512>512 at 4x4 1.25x with the threads
    ///   splitting channels, `WinogradChannelPlan`); not 5 or 6
    ///   (256>256 at 5x5: 0.82x) nor 2, where most of a 4x4 tile is padding (512>512: 0.49x).
    static func paysWithLargeTiles(for geometry: ConvGeometry, outChannels: Int) -> Bool {
        let channels = min(geometry.inChannels, outChannels)
        let (h, w) = (geometry.outHeight, geometry.outWidth)
        guard pays(for: geometry, outChannels: outChannels) else { return false }
        if channels >= 64 && min(h, w) >= 16 || channels >= 256 && min(h, w) >= 8 { return true }
        func tiles(_ side: Int, _ m: Int) -> Int { (side + m - 1) / m }
        let multiplications4 = 36 * tiles(h, 4) * tiles(w, 4), multiplications2 = 16 * tiles(h, 2) * tiles(w, 2)
        return channels >= 16 && max(h, w) <= 8 && 10 * multiplications4 <= 6 * multiplications2
    }

    /// `batch` images over `pieces` threads (`Compute.indexedChunks`): blocks are sized for
    /// the largest piece, so a smaller batch needs no more scratch than `maxBatch` does.
    init(geometry g: ConvGeometry, outChannels: Int, tile: Int, batch: Int, pieces: Int) {
        self.tile = tile
        (forward, inputGradient) = WinogradPass.passes(
            geometry: g, outChannels: outChannels, tile: tile, imagesPerPiece: max(1, (batch + pieces - 1) / max(1, pieces)))
        func rounded(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
        weightFloats = forward.weightFloats
        blockOffset = weightFloats  // dU first
        let inputBlock = max(forward.inputBlockFloats, inputGradient.inputBlockFloats)
        let outputBlock = max(forward.outputBlockFloats, inputGradient.outputBlockFloats)
        outputBlockOffset = blockOffset + rounded(inputBlock)
        rowsOffset = outputBlockOffset + rounded(outputBlock)
        perPiece = rowsOffset + rounded(max(forward.rowBufferFloats, inputGradient.rowBufferFloats))
    }

    func scratch(pieces: Int) -> Int { weightFloats + pieces * perPiece }
}

extension WinogradPass {
    /// The two passes of a 3x3 stride-1 convolution: x -> y, and dy -> dx (the input gradient
    /// as a convolution with the flipped weights and padding 2 - p).
    static func passes(
        geometry g: ConvGeometry, outChannels: Int, tile: Int, imagesPerPiece: Int
    ) -> (forward: WinogradPass, inputGradient: WinogradPass) {
        let target = tileTarget(tile: tile, inChannels: g.inChannels, outChannels: outChannels)
        // Both passes in panels where threads may split channels (on one thread as well).
        let splits = WinogradChannelPlan.applies(tile: tile, geometry: g, pieces: 2)
        let forward = WinogradPass(
            tile: tile, inChannels: g.inChannels, outChannels: outChannels, height: g.height, width: g.width,
            padding: g.padding, tileTarget: target, imagesPerPiece: imagesPerPiece, splitsChannels: splits)
        let inputGradient = WinogradPass(
            tile: tile, inChannels: outChannels, outChannels: g.inChannels, height: g.outHeight, width: g.outWidth,
            padding: 2 - g.padding, tileTarget: target, imagesPerPiece: imagesPerPiece, splitsChannels: splits)
        return (forward, inputGradient)
    }
}

extension Conv2d {
    func winogradPlan(batch: Int, pieces: Int) -> WinogradPlan {
        WinogradPlan(
            geometry: geometry, outChannels: outChannels, tile: resolvedAlgorithm == .winograd4 ? 4 : 2, batch: batch,
            pieces: pieces)
    }

    func forwardWinograd(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let pieces = context.compute.chunkCount(batch)
        if let plan = winogradChannelPlan(batch: batch, pieces: pieces) {
            precondition(context.scratch.count >= plan.scratch(pieces: pieces), "Conv2d: the model's scratch is too small")
            return forwardWinogradByChannels(x, y, batch: batch, plan: plan, pieces: pieces, context: context)
        }
        let plan = winogradPlan(batch: batch, pieces: pieces)
        precondition(context.scratch.count >= plan.scratch(pieces: pieces), "Conv2d: the model's scratch is too small")
        let u = context.scratch.baseAddress!
        WinogradPass.transformWeights(
            context.parameters + weightOffset, outChannels: outChannels, inChannels: inChannels, flipped: false,
            tile: plan.tile, into: u, compute: context.compute)
        let bias: UnsafePointer<Float>? = hasBias ? context.parameters + biasOffset : nil
        context.compute.indexedChunks(batch) { piece, images in
            let own = u + plan.weightFloats + piece * plan.perPiece
            plan.forward.convolve(
                x, images: images, u: u, bias: bias, into: y, v: own + plan.blockOffset,
                m: own + plan.outputBlockOffset, rows: own + plan.rowsOffset)
        }
    }

    func backwardWinograd(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
        gradients: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext
    ) {
        let pieces = context.compute.chunkCount(batch)
        if let plan = winogradChannelPlan(batch: batch, pieces: pieces) {
            precondition(context.scratch.count >= plan.scratch(pieces: pieces), "Conv2d: the model's scratch is too small")
            return backwardWinogradByChannels(
                x, dy, dx, gradients: gradients, batch: batch, plan: plan, pieces: pieces, context: context)
        }
        let plan = winogradPlan(batch: batch, pieces: pieces)
        precondition(context.scratch.count >= plan.scratch(pieces: pieces), "Conv2d: the model's scratch is too small")
        if hasBias { accumulateBiasGradient(dy, into: gradients + biasOffset, batch: batch, compute: context.compute) }
        let u = context.scratch.baseAddress!
        if dx != nil {
            WinogradPass.transformWeights(
                context.parameters + weightOffset, outChannels: outChannels, inChannels: inChannels, flipped: true,
                tile: plan.tile, into: u, compute: context.compute)
        }
        let transformedCount = plan.weightFloats
        context.compute.indexedChunks(batch) { piece, images in
            let own = u + plan.weightFloats + piece * plan.perPiece
            let du = own
            du.update(repeating: 0, count: transformedCount)
            let v = own + plan.blockOffset, m = own + plan.outputBlockOffset, rows = own + plan.rowsOffset
            plan.forward.accumulateTransformedWeightGradient(x, dy, images: images, into: du, v: v, m: m, rows: rows)
            if let dx {
                plan.inputGradient.convolve(dy, images: images, u: u, bias: nil, into: dx, v: v, m: m, rows: rows)
            }
        }
        // dU summed in thread order into the first thread's, then dW += G^T dU G.
        let first = u + plan.weightFloats
        context.compute.addPartials(
            pieces - 1, from: first + plan.perPiece, stride: plan.perPiece, into: first, floats: transformedCount)
        WinogradPass.accumulateWeightGradient(
            first, outChannels: outChannels, inChannels: inChannels, tile: plan.tile, into: gradients + weightOffset,
            compute: context.compute)
    }

    /// db[co] += the sum of dy's plane co over the batch, each channel adding its planes in
    /// sample order (the same bits on any threads).
    func accumulateBiasGradient(
        _ dy: UnsafePointer<Float>, into db: UnsafeMutablePointer<Float>, batch: Int, compute: Compute
    ) {
        let cout = outChannels, P = positions
        compute.chunks(cout, minimumPerChunk: 8) { channels in
            for co in channels {
                var sum: Float = 0
                for n in 0..<batch { sum += Vector.sum(dy + (n * cout + co) * P, count: P) }
                db[co] += sum
            }
        }
    }
}
