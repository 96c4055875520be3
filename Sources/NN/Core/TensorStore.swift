/// Named Float tensors in ONE contiguous buffer: a model's parameters, or its
/// non-learnable buffers.
///
/// One buffer means zeroing is one memset, an allreduce or a broadcast is one call and a
/// checkpoint is one write. Layers address their tensors by offset (see `Layer.bind`);
/// callers outside NN reach the memory only inside `withUnsafe...` scopes.
public final class TensorStore {
    /// One named tensor: PyTorch name, shape, position in the flat buffer, initialization.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public let count: Int
        public let initialization: Initialization
    }

    public let entries: [Entry]
    /// Number of floats.
    public let count: Int
    /// The flat buffer (at least one float, so that an empty store still has an address).
    let base: UnsafeMutablePointer<Float>

    /// Lays out `specs` (full name, spec) back to back, all values zero.
    public init(_ specs: [(name: String, spec: ParameterSpec)]) {
        var offset = 0
        var entries: [Entry] = []
        for (name, spec) in specs {
            entries.append(
                Entry(name: name, shape: spec.shape, offset: offset, count: spec.count, initialization: spec.initialization))
            offset += spec.count
        }
        self.entries = entries
        count = offset
        base = .allocate(capacity: max(1, offset))
        base.initialize(repeating: 0, count: max(1, offset))
    }

    deinit { base.deallocate() }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Runs `body` with the values as a buffer of `count` floats.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// Runs `body` with the values as a mutable buffer of `count` floats.
    public func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// A copy of all values.
    public func snapshot() -> [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// A copy of one tensor's values.
    public func values(of entry: Entry) -> [Float] {
        Array(UnsafeBufferPointer(start: base + entry.offset, count: entry.count))
    }

    /// Overwrites all values from `source` (its count must match).
    public func load(_ source: [Float]) {
        precondition(source.count == count, "TensorStore.load: \(source.count) values for \(count)")
        source.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    }

    /// Overwrites one tensor from `source` (its count must match the entry's).
    public func load(_ source: [Float], into entry: Entry) {
        precondition(source.count == entry.count, "TensorStore.load: \(source.count) values for \(entry.name)")
        source.withUnsafeBufferPointer { (base + entry.offset).update(from: $0.baseAddress!, count: entry.count) }
    }

    /// Sets every tensor as PyTorch initializes it; uniform draws come from `generator`,
    /// in entry order.
    public func initialize(generator: inout SeededGenerator) {
        for entry in entries {
            let p = base + entry.offset
            switch entry.initialization {
            case .uniformFanIn(let fanIn):
                let bound = Float(1.0 / Double(fanIn).squareRoot())
                for i in 0..<entry.count { p[i] = generator.uniform(-bound, bound) }
            case .constant(let value):
                p.update(repeating: value, count: entry.count)
            }
        }
    }

    /// True when every value is finite.
    public var allFinite: Bool {
        for i in 0..<count where !base[i].isFinite { return false }
        return true
    }
}
