/// All parameters of a model in ONE contiguous buffer, gradients in a mirror buffer.
///
/// Layers hold views into these buffers, so zeroing gradients is one memset, an
/// allreduce is one call and a checkpoint is one write. The gradient buffer has
/// `tailCount` extra floats after the gradients (the trainer puts
/// [instance count, loss sum, correct count] there so a step needs one fused allreduce).
public final class ParameterStore {
    /// One named parameter tensor: PyTorch name, shape and position in the flat buffer.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public let count: Int
        public let fanIn: Int
    }

    public let entries: [Entry]
    /// Number of parameter floats.
    public let count: Int
    /// Extra floats after the gradients.
    public let tailCount: Int
    public let values: UnsafeMutablePointer<Float>
    /// `count + tailCount` floats.
    public let gradients: UnsafeMutablePointer<Float>

    public init(entries specs: [(name: String, spec: ParameterSpec)], tailCount: Int = 3) {
        var offset = 0
        var entries: [Entry] = []
        for (name, spec) in specs {
            entries.append(Entry(name: name, shape: spec.shape, offset: offset, count: spec.count, fanIn: spec.fanIn))
            offset += spec.count
        }
        self.entries = entries
        self.count = offset
        self.tailCount = tailCount
        values = .allocate(capacity: max(1, offset))
        values.initialize(repeating: 0, count: max(1, offset))
        gradients = .allocate(capacity: offset + tailCount)
        gradients.initialize(repeating: 0, count: offset + tailCount)
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    public func view(of entry: Entry) -> ParameterView {
        ParameterView(value: values + entry.offset, gradient: gradients + entry.offset, count: entry.count)
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Sets gradients and the tail to zero.
    public func zeroGradients() {
        gradients.update(repeating: 0, count: count + tailCount)
    }

    /// PyTorch's default init for Linear and Conv2d: weight and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
    ///
    /// (kaiming_uniform with a = sqrt(5) gives bound sqrt(6 / ((1 + 5) fanIn)) = 1/sqrt(fanIn).)
    public func initializeLikePyTorch(generator: inout SeededGenerator) {
        for entry in entries {
            let bound = Float(1.0 / Double(entry.fanIn).squareRoot())
            let p = values + entry.offset
            for i in 0..<entry.count { p[i] = generator.uniform(-bound, bound) }
        }
    }

    /// A copy of the parameter values.
    public func snapshot() -> [Float] { Array(UnsafeBufferPointer(start: values, count: count)) }

    /// Overwrites all values from `source` (count must match).
    public func load(_ source: [Float]) {
        precondition(source.count == count, "parameter count \(source.count) != \(count)")
        source.withUnsafeBufferPointer { values.update(from: $0.baseAddress!, count: count) }
    }

    /// True when every value is finite.
    public var allFinite: Bool {
        for i in 0..<count where !values[i].isFinite { return false }
        return true
    }

    /// FNV-1a over the raw bits of all values: equal digests on two ranks mean
    /// (with overwhelming probability) bit-identical parameters.
    public var digest: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in 0..<count {
            h = (h ^ UInt64(values[i].bitPattern)) &* 0x0000_0100_0000_01B3
        }
        return h
    }
}
