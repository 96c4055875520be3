/// A tracker's state as plain arrays, and the ONE encoding of it: named per-instance
/// columns (`columns`). Checkpoints store each column as a tensor indexed by global id
/// (`orderedByID`, `selecting(ids:)`); rebalancing ships some instances' rows as one
/// packed message (`packed`, `init(packed:rule:)`). Adding a per-instance field means
/// adding it to `State`, to `columns` and to `init(rule:ids:columns:)`, nothing else.
/// States are taken between epochs (after `decide()`).
extension MasteryTracker {
    /// The tracker state of some instances, struct-of-arrays in slot order.
    public struct State: Sendable, Equatable {
        public var rule: MasteryRule
        public var ids: [Int32]
        /// This epoch's losses recorded so far; NaN where none yet (all NaN between epochs).
        public var pending: [Float]
        public var lastLoss: [Float]
        public var previousLoss: [Float]
        /// Losses folded in so far (the epochs the instance has been through).
        public var recorded: [Int32]
        /// `ids.count * rule.historyLength` d2 values, oldest first per instance.
        public var history: [Float]
        public var historyCount: [UInt8]
        public var mastered: [Bool]
        /// Epochs for which the instance was decided mastered.
        public var masteredEpochs: [Int32]
        /// The epoch after which it was first mastered; 0 = never.
        public var firstMastered: [Int32]
        /// Epochs between `previousLoss` and `lastLoss` (1 when consecutive).
        public var lossGap: [Int32]
        /// Epochs decided since `lastLoss` without a loss (a mastered instance between probes).
        public var epochsSinceLoss: [Int32]
        /// A mastered instance is probed in the `probeInterval`-th epoch after its last loss
        /// (`ProbeSchedule`); 1 for instances in training.
        public var probeInterval: [Int32]

        public var count: Int { ids.count }

        /// Equal when every array is equal, the pending losses compared bit for bit (NaN marks "none yet").
        public static func == (a: State, b: State) -> Bool {
            a.rule == b.rule && a.ids == b.ids && a.pending.map(\.bitPattern) == b.pending.map(\.bitPattern)
                && a.lastLoss == b.lastLoss && a.previousLoss == b.previousLoss && a.recorded == b.recorded
                && a.history == b.history && a.historyCount == b.historyCount && a.mastered == b.mastered
                && a.masteredEpochs == b.masteredEpochs && a.firstMastered == b.firstMastered
                && a.lossGap == b.lossGap && a.epochsSinceLoss == b.epochsSinceLoss
                && a.probeInterval == b.probeInterval
        }

        /// Fresh histories for `ids`.
        public init(rule: MasteryRule, ids: [Int32]) {
            let n = ids.count
            self.rule = rule
            self.ids = ids
            pending = Array(repeating: .nan, count: n)
            lastLoss = Array(repeating: 0, count: n)
            previousLoss = Array(repeating: 0, count: n)
            recorded = Array(repeating: 0, count: n)
            history = Array(repeating: 0, count: n * rule.historyLength)
            historyCount = Array(repeating: 0, count: n)
            mastered = Array(repeating: false, count: n)
            masteredEpochs = Array(repeating: 0, count: n)
            firstMastered = Array(repeating: 0, count: n)
            lossGap = Array(repeating: 1, count: n)
            epochsSinceLoss = Array(repeating: 0, count: n)
            probeInterval = Array(repeating: 1, count: n)
        }

        /// Checks lengths and ranges; the message says which array is off.
        public func validate() throws {
            let n = ids.count, h = rule.historyLength
            func check(_ ok: Bool, _ message: @autoclosure () -> String) throws {
                if !ok { throw MasteryError.invalidState(message()) }
            }
            for column in columns {
                try check(
                    column.values.count == n * column.width,
                    "\(column.name) has \(column.values.count) values, expected \(n) x \(column.width)")
            }
            try check(recorded.allSatisfy { $0 >= 0 }, "recorded values must be >= 0")
            try check(historyCount.allSatisfy { Int($0) <= h }, "history_count values must be 0...\(h)")
            try check(
                zip(historyCount, recorded).allSatisfy { Int($0) <= max(0, Int($1) - 2) },
                "history_count exceeds the d2 values that recorded losses allow")
            try check(lossGap.allSatisfy { $0 >= 1 }, "loss_gap values must be >= 1")
            try check(probeInterval.allSatisfy { $0 >= 1 }, "probe_interval values must be >= 1")
            try check(
                (0..<n).allSatisfy { i in
                    mastered[i] ? (0..<probeInterval[i]).contains(epochsSinceLoss[i])
                        : epochsSinceLoss[i] == 0 && probeInterval[i] == 1
                },
                "epochs_since_loss and probe_interval disagree with mastered (an instance in training has a loss "
                    + "every epoch; a mastered one is probed before its interval ends)")
            try check(Set(ids).count == n, "ids contain duplicates")
        }
    }
}

// MARK: - The encoding

extension MasteryTracker.State {
    /// One per-instance array of a state: `width` values per instance, in slot order.
    public struct Column: Sendable, Equatable {
        public enum Values: Sendable, Equatable {
            case float32([Float])
            case int32([Int32])
            case uint8([UInt8])

            public var count: Int {
                switch self {
                case .float32(let v): return v.count
                case .int32(let v): return v.count
                case .uint8(let v): return v.count
                }
            }
        }

        /// Its name in checkpoints ("last_loss", "history", ...).
        public let name: String
        public let width: Int
        public let values: Values

        public init(name: String, width: Int, values: Values) {
            self.name = name
            self.width = width
            self.values = values
        }

        /// The rows `indices`, in that order.
        func rows(_ indices: [Int]) -> Column {
            func gather<T>(_ v: [T]) -> [T] {
                var out: [T] = []
                out.reserveCapacity(indices.count * width)
                for i in indices { out.append(contentsOf: v[(i * width)..<((i + 1) * width)]) }
                return out
            }
            switch values {
            case .float32(let v): return Column(name: name, width: width, values: .float32(gather(v)))
            case .int32(let v): return Column(name: name, width: width, values: .int32(gather(v)))
            case .uint8(let v): return Column(name: name, width: width, values: .uint8(gather(v)))
            }
        }

        /// This column followed by `other` (same name and kind).
        func appending(_ other: Column) throws -> Column {
            switch (values, other.values) {
            case (.float32(let a), .float32(let b)): return Column(name: name, width: width, values: .float32(a + b))
            case (.int32(let a), .int32(let b)): return Column(name: name, width: width, values: .int32(a + b))
            case (.uint8(let a), .uint8(let b)): return Column(name: name, width: width, values: .uint8(a + b))
            default: throw MasteryError.invalidState("column \(name) changes its element type")
            }
        }
    }

    /// Every per-instance array except the ids, in a fixed order: THE layout of a state.
    public var columns: [Column] {
        [
            Column(name: "pending_loss", width: 1, values: .float32(pending)),
            Column(name: "last_loss", width: 1, values: .float32(lastLoss)),
            Column(name: "previous_loss", width: 1, values: .float32(previousLoss)),
            Column(name: "recorded", width: 1, values: .int32(recorded)),
            Column(name: "history", width: rule.historyLength, values: .float32(history)),
            Column(name: "history_count", width: 1, values: .uint8(historyCount)),
            Column(name: "mastered", width: 1, values: .uint8(mastered.map { $0 ? 1 : 0 })),
            Column(name: "mastered_epochs", width: 1, values: .int32(masteredEpochs)),
            Column(name: "first_mastered", width: 1, values: .int32(firstMastered)),
            Column(name: "loss_gap", width: 1, values: .int32(lossGap)),
            Column(name: "epochs_since_loss", width: 1, values: .int32(epochsSinceLoss)),
            Column(name: "probe_interval", width: 1, values: .int32(probeInterval)),
        ]
    }

    /// Columns added after checkpoints were first written (by the probe schedule). A state
    /// without them is one from a run that probed every epoch, whose values they take: gap
    /// 1, no epoch without a loss, interval 1 (so such checkpoints still resume).
    public static let columnsWithDefaults: Set<String> = ["loss_gap", "epochs_since_loss", "probe_interval"]

    /// The state of `ids` from its columns (found by name; validated).
    public init(rule: MasteryRule, ids: [Int32], columns: [Column]) throws {
        self.init(rule: rule, ids: ids)
        var byName: [String: Column] = [:]
        for column in columns { byName[column.name] = column }
        func column(_ name: String) throws -> Column.Values {
            guard let column = byName[name] else { throw MasteryError.invalidState("no \(name) column") }
            return column.values
        }
        func floats(_ name: String) throws -> [Float] {
            guard case .float32(let v) = try column(name) else { throw MasteryError.invalidState("\(name) is not F32") }
            return v
        }
        func int32s(_ name: String) throws -> [Int32] {
            guard case .int32(let v) = try column(name) else { throw MasteryError.invalidState("\(name) is not I32") }
            return v
        }
        func bytes(_ name: String) throws -> [UInt8] {
            guard case .uint8(let v) = try column(name) else { throw MasteryError.invalidState("\(name) is not U8") }
            return v
        }
        pending = try floats("pending_loss")
        lastLoss = try floats("last_loss")
        previousLoss = try floats("previous_loss")
        recorded = try int32s("recorded")
        history = try floats("history")
        historyCount = try bytes("history_count")
        mastered = try bytes("mastered").map { $0 != 0 }
        masteredEpochs = try int32s("mastered_epochs")
        firstMastered = try int32s("first_mastered")
        // Absent columns of `columnsWithDefaults` keep the defaults init(rule:ids:) gave.
        if byName["loss_gap"] != nil { lossGap = try int32s("loss_gap") }
        if byName["epochs_since_loss"] != nil { epochsSinceLoss = try int32s("epochs_since_loss") }
        if byName["probe_interval"] != nil { probeInterval = try int32s("probe_interval") }
        try validate()
    }

    /// The instances at `indices` (positions in this state), in that order.
    public func rows(_ indices: [Int]) -> MasteryTracker.State {
        // Built from validated columns of valid rows, so it cannot fail.
        try! MasteryTracker.State(rule: rule, ids: indices.map { ids[$0] }, columns: columns.map { $0.rows(indices) })
    }

    /// The states one after the other (all with the same rule).
    public static func concatenating(_ states: [MasteryTracker.State], rule: MasteryRule) throws -> MasteryTracker.State {
        var ids: [Int32] = []
        var columns = MasteryTracker.State(rule: rule, ids: []).columns
        for state in states {
            guard state.rule == rule else {
                throw MasteryError.invalidState("rule \(state.rule) differs from \(rule)")
            }
            ids += state.ids
            columns = try zip(columns, state.columns).map { try $0.appending($1) }
        }
        return try MasteryTracker.State(rule: rule, ids: ids, columns: columns)
    }

    /// The rows reordered so that row i holds global id i; the ids must be exactly 0..<count.
    public func orderedByID() throws -> MasteryTracker.State {
        var row = [Int](repeating: -1, count: count)
        for (index, id) in ids.enumerated() {
            guard id >= 0, Int(id) < count else {
                throw MasteryError.invalidState("id \(id) outside 0..<\(count): instances are missing or duplicated")
            }
            guard row[Int(id)] == -1 else { throw MasteryError.invalidState("id \(id) appears twice") }
            row[Int(id)] = index
        }
        return rows(row)
    }

    /// The rows of `wanted` ids, in that order (for a state ordered by id: row = id).
    public func selecting(ids wanted: [Int32]) throws -> MasteryTracker.State {
        var rowOf: [Int32: Int] = [:]
        rowOf.reserveCapacity(count)
        for (index, id) in ids.enumerated() { rowOf[id] = index }
        return rows(try wanted.map { id in
            guard let row = rowOf[id] else { throw MasteryError.invalidState("instance \(id) is not in the state") }
            return row
        })
    }

    /// The state as bytes: instance count, ids, then every column's little-endian values.
    public func packed() -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ values: [T]) {
            for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        append([UInt32(count)])
        append(ids)
        for column in columns {
            switch column.values {
            case .float32(let v): append(v.map(\.bitPattern))
            case .int32(let v): append(v)
            case .uint8(let v): bytes += v
            }
        }
        return bytes
    }

    /// Reads what `packed()` wrote, for instances tracked with `rule`.
    public init(packed bytes: [UInt8], rule: MasteryRule) throws {
        var offset = 0
        func take<T: FixedWidthInteger>(_: T.Type, _ n: Int) throws -> [T] {
            let size = MemoryLayout<T>.size
            guard n >= 0, offset + n * size <= bytes.count else {
                throw MasteryError.invalidState("packed state of \(bytes.count) bytes is too short")
            }
            defer { offset += n * size }
            return bytes.withUnsafeBytes { raw in
                (0..<n).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: offset + $0 * size, as: T.self)) }
            }
        }
        let n = Int(try take(UInt32.self, 1)[0])
        let ids = try take(Int32.self, n)
        let columns = try MasteryTracker.State(rule: rule, ids: []).columns.map { layout -> Column in
            let values: Column.Values
            switch layout.values {
            case .float32: values = .float32(try take(UInt32.self, n * layout.width).map(Float.init(bitPattern:)))
            case .int32: values = .int32(try take(Int32.self, n * layout.width))
            case .uint8: values = .uint8(try take(UInt8.self, n * layout.width))
            }
            return Column(name: layout.name, width: layout.width, values: values)
        }
        guard offset == bytes.count else {
            throw MasteryError.invalidState("packed state has \(bytes.count - offset) bytes left over")
        }
        try self.init(rule: rule, ids: ids, columns: columns)
    }
}

extension MasteryTracker.State {
    /// `rule.movingAverageSum(history:)` of instance `i` (what its decision compared with the
    /// threshold), or nil while its history is not full.
    public func movingAverageSum(_ i: Int) -> Float? {
        let h = rule.historyLength
        guard Int(historyCount[i]) == h else { return nil }
        return history.withUnsafeBufferPointer { rule.movingAverageSum(history: $0.baseAddress! + i * h) }
    }
}

// MARK: - Moving instances in and out of a tracker

extension MasteryTracker {
    /// The state of all instances.
    public func state() -> State { stored }

    /// The state of the instances in `slots`, in that order.
    public func state(slots: [Int]) -> State { state().rows(slots) }

    /// A tracker holding `state` (validated).
    public convenience init(state: State, schedule: ProbeSchedule = .every) throws {
        try state.validate()
        self.init(rule: state.rule, schedule: schedule, ids: [])
        try append(state)
    }

    /// Adds instances with their history at the end (new slots count..<count + state.count).
    public func append(_ state: State) throws {
        try state.validate()
        guard state.rule == rule else {
            throw MasteryError.invalidState("rule \(state.rule) differs from the tracker's \(rule)")
        }
        let existing = Set(ids)
        if let clash = state.ids.first(where: { existing.contains($0) }) {
            throw MasteryError.invalidState("instance \(clash) is already tracked")
        }
        replace(with: try State.concatenating([self.state(), state], rule: rule))
    }

    /// Removes the instances in `slots` and returns their state; the remaining
    /// instances keep their relative order (slots shift down).
    @discardableResult
    public func remove(slots: [Int]) -> State {
        let all = state()
        var drop = [Bool](repeating: false, count: count)
        for slot in slots { drop[slot] = true }
        replace(with: all.rows((0..<count).filter { !drop[$0] }))
        return all.rows(slots)
    }

    /// Puts the instances in ascending global id order (slots renumbered).
    public func sortByID() {
        replace(with: state().rows((0..<count).sorted { ids[$0] < ids[$1] }))
    }

    /// Makes `state` the tracker's contents (its losses recorded this epoch included).
    private func replace(with state: State) {
        stored = state
    }
}
