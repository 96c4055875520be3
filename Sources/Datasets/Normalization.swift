/// Per-channel standardization of pixel bytes, with an allocation-free batch fill for the training loop.
///
/// Only `mean` and `std` are persisted and compared; the lookup table is
/// derived from them, so a decoded value behaves exactly like the original.
public struct Normalization: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Per channel mean of `pixel / 255` over the training split.
    public let mean: [Float]
    /// Per channel population standard deviation of `pixel / 255` (1 where it would be 0).
    public let std: [Float]
    /// `table[c * 256 + v]` is the normalized value of byte `v` in channel `c`;
    /// a byte has only 256 values, so a lookup replaces a subtract and divide per pixel.
    private let table: [Float]

    private enum CodingKeys: String, CodingKey {
        case mean, std
    }

    /// Creates a normalization from known statistics; `std` entries must be finite and non-zero.
    public init(mean: [Float], std: [Float]) {
        precondition(!mean.isEmpty && mean.count == std.count, "Normalization: \(mean.count) means for \(std.count) stds")
        precondition(std.allSatisfy { $0 != 0 && $0.isFinite }, "Normalization: std must be finite and non-zero, got \(std)")
        self.mean = mean
        self.std = std
        var table = [Float](repeating: 0, count: mean.count * 256)
        for c in 0..<mean.count {
            for v in 0..<256 {
                table[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c]
            }
        }
        self.table = table
    }

    /// Computes per channel mean and population std of `pixel / 255` over `dataset`.
    ///
    /// Counts byte values per channel first: exact, one cheap pass over the
    /// pixels, and the moments then need only 256 Double terms per channel.
    public init(computedFrom dataset: Dataset) {
        self.init(histograms: Normalization.histograms(of: dataset), channels: dataset.channels)
    }

    /// How often each byte value occurs in each channel of `dataset`: `counts[c * 256 + v]`.
    /// Histograms of disjoint shards add up (exactly, as integers) to the whole split's.
    public static func histograms(of dataset: Dataset) -> [Int64] {
        var counter = HistogramCounter(channels: dataset.channels, plane: dataset.height * dataset.width)
        dataset.images.withUnsafeBytes { counter.count($0) }
        return counter.histograms
    }

    /// Counts byte values per channel over images given a run at a time (`histograms(of:)`
    /// gives it the whole dataset; a rank reading its shard gives it each run as it is
    /// copied, while the bytes are in cache). The counts are exact integers, so they do not
    /// depend on how the images were split into runs.
    public struct HistogramCounter {
        public let channels: Int
        /// Pixels per channel of one image (height x width).
        public let plane: Int
        /// Four partial counts per channel, one per byte position mod 4: runs of one byte
        /// value no longer wait on the previous increment of the same counter (about 2x
        /// faster on a shard of a million images); their sum is the same exact count.
        /// `partial[(4 * c + j) * 256 + v]`.
        private var partial: [Int64]

        public init(channels: Int, plane: Int) {
            precondition(channels > 0 && plane > 0, "HistogramCounter: \(channels) channels of \(plane) pixels")
            self.channels = channels
            self.plane = plane
            partial = [Int64](repeating: 0, count: 4 * channels * 256)
        }

        /// Counts the bytes of whole CHW images (`images.count` a multiple of `channels * plane`).
        public mutating func count(_ images: UnsafeRawBufferPointer) {
            let (channels, plane) = (self.channels, self.plane)
            let size = channels * plane
            precondition(images.count % size == 0, "HistogramCounter: \(images.count) bytes are not whole images of \(size)")
            guard let base = images.baseAddress else { return }
            let pixels = base.assumingMemoryBound(to: UInt8.self)
            partial.withUnsafeMutableBufferPointer { counts in
                for s in 0..<(images.count / size) {
                    for c in 0..<channels {
                        let start = s * size + c * plane
                        let rows = counts.baseAddress! + 4 * c * 256
                        var k = start
                        // Eight bytes per load, each shifted out of the word.
                        while k + 8 <= start + plane {
                            let word = UnsafeRawPointer(pixels + k).loadUnaligned(as: UInt64.self)
                            rows[Int(word & 0xFF)] += 1
                            rows[256 + Int((word >> 8) & 0xFF)] += 1
                            rows[512 + Int((word >> 16) & 0xFF)] += 1
                            rows[768 + Int((word >> 24) & 0xFF)] += 1
                            rows[Int((word >> 32) & 0xFF)] += 1
                            rows[256 + Int((word >> 40) & 0xFF)] += 1
                            rows[512 + Int((word >> 48) & 0xFF)] += 1
                            rows[768 + Int(word >> 56)] += 1
                            k += 8
                        }
                        while k < start + plane {
                            rows[Int(pixels[k])] += 1
                            k += 1
                        }
                    }
                }
            }
        }

        /// The counts so far: `histograms[c * 256 + v]`.
        public var histograms: [Int64] {
            var histogram = [Int64](repeating: 0, count: channels * 256)
            for c in 0..<channels {
                for v in 0..<256 {
                    let base = 4 * c * 256 + v
                    histogram[c * 256 + v] = partial[base] + partial[base + 256] + partial[base + 512] + partial[base + 768]
                }
            }
            return histogram
        }
    }

    /// Mean and population std of `pixel / 255` per channel from byte-value `histograms`
    /// (`histograms[c * 256 + v]`, as `histograms(of:)` counts them): the one computation
    /// of the statistics, so the same counts give the same bits however they were summed.
    public init(histograms: [Int64], channels: Int) {
        precondition(channels > 0 && histograms.count == channels * 256, "Normalization: \(histograms.count) counts for \(channels) channels")
        var means = [Float]()
        var stds = [Float]()
        for c in 0..<channels {
            var n = 0.0, sum = 0.0, sumSquares = 0.0
            for v in 0..<256 {
                let count = Double(histograms[c * 256 + v])
                let x = Double(v) / 255
                n += count
                sum += count * x
                sumSquares += count * x * x
            }
            let mean = n > 0 ? sum / n : 0
            let variance = n > 0 ? max(0, sumSquares / n - mean * mean) : 0
            let std = Float(variance.squareRoot())
            means.append(Float(mean))
            stds.append(std > 0 ? std : 1)
        }
        self.init(mean: means, std: stds)
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let mean = try container.decode([Float].self, forKey: .mean)
        let std = try container.decode([Float].self, forKey: .std)
        guard !mean.isEmpty, mean.count == std.count, std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription: "normalization needs equally many means and non-zero finite stds, got \(mean) and \(std)"))
        }
        self.init(mean: mean, std: std)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mean, forKey: .mean)
        try container.encode(std, forKey: .std)
    }

    /// Mean and std only; the derived lookup table would drown them in logs.
    public var description: String { "Normalization(mean: \(mean), std: \(std))" }

    public static func == (lhs: Normalization, rhs: Normalization) -> Bool {
        lhs.mean == rhs.mean && lhs.std == rhs.std
    }

    /// Writes the normalized samples (value/255 - mean[c]) / std[c] of the instances in
    /// `slots` of `dataset` into `output` (slots.count * sampleSize floats, sample-major CHW)
    /// and their labels into `labels`.
    ///
    /// With an `augmentation` (and its key), each sample is that instance's augmented view
    /// instead (`Augmentation.view`, keyed by its global id `dataset.ids[slot]`), taken from
    /// the raw bytes before normalization: pixels from outside the image are raw 0, written
    /// as (0 - mean[c]) / std[c]. `nil` and `.none` write the samples unchanged.
    ///
    /// Does not allocate, since it runs once per mini-batch in the training loop.
    public func fill(
        from dataset: Dataset, slots: UnsafeBufferPointer<Int>,
        output: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>,
        augmentation: (Augmentation, AugmentationKey)? = nil
    ) {
        let channels = dataset.channels
        precondition(channels == mean.count, "Normalization.fill: dataset has \(channels) channels, normalization \(mean.count)")
        let plane = dataset.height * dataset.width
        let size = dataset.sampleSize
        let count = dataset.count
        let plan = augmentation.flatMap { $0.0 == .none ? nil : $0 }
        dataset.images.withUnsafeBufferPointer { pixelBuffer in
            dataset.labels.withUnsafeBufferPointer { labelBuffer in
                table.withUnsafeBufferPointer { tableBuffer in
                    guard let pixels = pixelBuffer.baseAddress, let lut = tableBuffer.baseAddress else { return }
                    var out = output
                    for (k, i) in slots.enumerated() {
                        precondition(i >= 0 && i < count, "Normalization.fill: slot \(i) outside 0..<\(count)")
                        labels[k] = labelBuffer[i]
                        if case let (kind, key)? = plan {
                            let view = kind.view(id: dataset.ids[i], key: key)
                            Normalization.writeView(
                                view, of: pixels + i * size, into: out, channels: channels,
                                height: dataset.height, width: dataset.width, lut: lut)
                            out += size
                            continue
                        }
                        var source = pixels + i * size
                        for c in 0..<channels {
                            let channelTable = lut + c * 256
                            for p in 0..<plane { out[p] = channelTable[Int(source[p])] }
                            out += plane
                            source += plane
                        }
                    }
                }
            }
        }
    }

    /// Writes one instance's normalized view: for output pixel (c, y, x), with
    /// x' = flip ? W - 1 - x : x, the source pixel is (c, y + dy - padding, x' + dx - padding),
    /// looked up in channel c's table, and table[0] (the normalized zero) where that lies
    /// outside the H x W image. Rows are written as a border fill, one run through the
    /// table, and a border fill, so the inner loops have no per-pixel branches.
    private static func writeView(
        _ view: (dy: Int, dx: Int, flip: Bool), of source: UnsafePointer<UInt8>, into output: UnsafeMutablePointer<Float>,
        channels: Int, height: Int, width: Int, lut: UnsafePointer<Float>
    ) {
        let pad = Augmentation.padding
        // Rows y whose source row y + dy - pad is inside: top..<bottom.
        let top = min(max(pad - view.dy, 0), height)
        let bottom = max(top, min(height + pad - view.dy, height))
        // Columns x' (before the flip) whose source column x' + shift is inside: lo..<hi.
        let shift = view.dx - pad
        let lo = min(max(-shift, 0), width)
        let hi = max(lo, min(width - shift, width))
        var out = output
        for c in 0..<channels {
            let channelTable = lut + c * 256
            let zero = channelTable[0]
            let plane = source + c * height * width
            for y in 0..<height {
                defer { out += width }
                guard y >= top && y < bottom else {
                    out.update(repeating: zero, count: width)
                    continue
                }
                let row = plane + (y + view.dy - pad) * width
                if view.flip {
                    // out[x] = cropped[W - 1 - x]: inside for x in W - hi ..< W - lo.
                    out.update(repeating: zero, count: width - hi)
                    for x in (width - hi)..<(width - lo) { out[x] = channelTable[Int(row[width - 1 - x + shift])] }
                    (out + width - lo).update(repeating: zero, count: lo)
                } else {
                    out.update(repeating: zero, count: lo)
                    for x in lo..<hi { out[x] = channelTable[Int(row[x + shift])] }
                    (out + hi).update(repeating: zero, count: width - hi)
                }
            }
        }
    }
}
