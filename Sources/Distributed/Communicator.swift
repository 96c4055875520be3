// The only Swift file that imports CMPI: everything MPI goes through here.
import CMPI
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `MPI_COMM_WORLD`, or a one-process stand-in when not launched by `mpirun`.
///
/// - Under `mpirun` (`OMPI_COMM_WORLD_SIZE` or `PMIX_RANK` in the environment)
///   the first `world()` calls `MPI_Init_thread(MPI_THREAD_SERIALIZED)` and sets
///   `MPI_ERRORS_RETURN` on `MPI_COMM_WORLD`, so every failing call returns and
///   is thrown as a `DistributedError` naming the call and the rank.
/// - Otherwise MPI is never initialized (no runtime start-up cost) and the
///   communicator is a *singleton*: rank 0 of 1, collectives are identities,
///   `send` to rank 0 queues the message for a later `receive` from rank 0.
///   Arguments are validated exactly as under `mpirun -np 1` (counts, roots,
///   peers, tags), so both give the same results and the same errors.
///
/// Rules for callers, as for MPI itself: every rank calls the same collectives
/// in the same order with matching counts; use one thread at a time (calls are
/// serialized by an internal lock, MPI is initialized with
/// `MPI_THREAD_SERIALIZED`). Counts (in elements, and in bytes for the generic
/// byte-wise operations) above `Int32.max` are rejected with `MPI_ERR_COUNT`;
/// tags must be in `0...32767` (the smallest `MPI_TAG_UB` MPI allows).
/// Call `finalize()` once before the process exits normally.
public final class Communicator: @unchecked Sendable {
    /// Rank in `MPI_COMM_WORLD` (0 for the singleton).
    public let rank: Int
    /// Number of ranks in `MPI_COMM_WORLD` (1 for the singleton).
    public let size: Int
    /// Rank among the ranks on this node (`MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`).
    public let localRank: Int
    /// Number of ranks on this node.
    public let localSize: Int
    /// True when not launched by `mpirun`: MPI is not initialized at all.
    public let isSingleton: Bool
    /// `MPI_Get_processor_name` (the host name for the singleton).
    public let processorName: String

    /// `MPI_COMM_WORLD`; nil for the singleton.
    private let comm: MPI_Comm?
    /// Serializes MPI calls (recursive: compound operations hold it throughout).
    private let lock = NSRecursiveLock()
    private var finalized = false
    /// Singleton only: messages sent to self, FIFO per tag.
    private var mailbox: [Int: [[UInt8]]] = [:]
    /// Deadlines on every wait, when enabled (`enableStallWatchdog`).
    private var watchdog: StallWatchdog?

    nonisolated(unsafe) private static var shared: Communicator?
    private static let sharedLock = NSLock()
    /// Stand-in address for empty buffers (MPI wants a valid pointer even for count 0).
    nonisolated(unsafe) private static let emptyBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

    /// Largest tag accepted (the minimum `MPI_TAG_UB` every MPI guarantees).
    public static let maxTag = 32767

    /// True when this process was started by OpenMPI's `mpirun` / PMIx.
    public static var isLaunchedByMPIRun: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil
    }

    /// A one-rank communicator that never touches MPI, even under `mpirun`
    /// (for tests and tools that run in-process). `world()` returns this very
    /// instance when the process was not launched by `mpirun`.
    public static let singleton = Communicator(singleton: ())

    /// The world communicator; initializes MPI on the first call when launched
    /// by `mpirun`. Idempotent: always returns the same instance.
    public static func world() throws -> Communicator {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let shared { return shared }
        let made = isLaunchedByMPIRun ? try Communicator(mpiWorld: ()) : singleton
        shared = made
        return made
    }

    private init(singleton: Void) {
        rank = 0
        size = 1
        localRank = 0
        localSize = 1
        isSingleton = true
        comm = nil
        var name = [CChar](repeating: 0, count: 256)
        processorName = gethostname(&name, name.count - 1) == 0 ? String(cString: name) : "localhost"
    }

    private init(mpiWorld: Void) throws {
        // Until MPI_Comm_rank answers, errors name the rank mpirun announced.
        let envRank = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "") ?? -1
        var flag: Int32 = 0
        try Self.check(MPI_Initialized(&flag), "MPI_Initialized", rank: envRank)
        if flag == 0 {
            var provided: Int32 = 0
            try Self.check(
                MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided), "MPI_Init_thread", rank: envRank)
        }
        let world = cmpi_comm_world()
        try Self.check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler", rank: envRank)
        var r: Int32 = 0
        var s: Int32 = 0
        try Self.check(MPI_Comm_rank(world, &r), "MPI_Comm_rank", rank: envRank)
        try Self.check(MPI_Comm_size(world, &s), "MPI_Comm_size", rank: Int(r))

        var node: MPI_Comm? = cmpi_comm_null()
        try Self.check(
            MPI_Comm_split_type(world, cmpi_comm_type_shared(), r, cmpi_info_null(), &node),
            "MPI_Comm_split_type", rank: Int(r))
        var lr: Int32 = 0
        var ls: Int32 = 0
        try Self.check(MPI_Comm_rank(node, &lr), "MPI_Comm_rank", rank: Int(r))
        try Self.check(MPI_Comm_size(node, &ls), "MPI_Comm_size", rank: Int(r))
        try Self.check(MPI_Comm_free(&node), "MPI_Comm_free", rank: Int(r))

        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        try Self.check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name", rank: Int(r))

        rank = Int(r)
        size = Int(s)
        localRank = Int(lr)
        localSize = Int(ls)
        isSingleton = false
        comm = world
        processorName = String(cString: name)
    }

    // MARK: - Allreduce

    /// Combines `buffer` element-wise over all ranks with `operation`, in place: every rank
    /// ends with the same result.
    public func allreduce<T: ReductionElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation) throws {
        let call = "MPI_Allreduce"
        try locked(call) {
            let n = try mpiCount(buffer.count, call)
            guard let comm else { return }
            let data = UnsafeMutableRawPointer(buffer.baseAddress) ?? Self.emptyBuffer
            let (type, op) = (T.reductionType.mpiDatatype, operation.mpiOp)
            try perform(
                call, blocking: { MPI_Allreduce(cmpi_in_place(), data, n, type, op, comm) },
                start: { MPI_Iallreduce(cmpi_in_place(), data, n, type, op, comm, $0) })
        }
    }

    /// Combines `values` element-wise over all ranks with `operation`, in place.
    public func allreduce<T: ReductionElement>(_ values: inout [T], _ operation: ReductionOperation) throws {
        try values.withUnsafeMutableBufferPointer { try allreduce($0, operation) }
    }

    /// `value` combined over all ranks with `operation`.
    public func allreduced<T: ReductionElement>(_ value: T, _ operation: ReductionOperation) throws -> T {
        var values = [value]
        try allreduce(&values, operation)
        return values[0]
    }

    /// The sum of `value` over all ranks.
    public func allreduced(_ value: Int, _ operation: ReductionOperation) throws -> Int {
        Int(try allreduced(Int64(value), operation))
    }

    // MARK: - Broadcast

    /// Every rank ends with root's `buffer` (same count on all ranks; moved as bytes).
    public func broadcast<T: BitwiseCopyable>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        let call = "MPI_Bcast"
        try locked(call) {
            try checkRoot(root, call)
            let bytes = buffer.count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            let n = try mpiCount(bytes.overflow ? Int.max : bytes.partialValue, call, what: "size in bytes")
            guard let comm else { return }
            let data = UnsafeMutableRawPointer(buffer.baseAddress) ?? Self.emptyBuffer
            try perform(
                call, blocking: { MPI_Bcast(data, n, cmpi_byte(), Int32(root), comm) },
                start: { MPI_Ibcast(data, n, cmpi_byte(), Int32(root), comm, $0) })
        }
    }

    /// Variable length: every rank ends with root's `bytes` (the count goes first).
    public func broadcast(bytes: inout [UInt8], root: Int) throws {
        let call = "MPI_Bcast"
        try locked(call) {
            try checkRoot(root, call)
            var count = [Int64(bytes.count)]
            try count.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
            // Every rank now knows root's count, so all reject a too-large one together.
            _ = try mpiCount(Int(count[0]), call)
            if rank != root { bytes = [UInt8](repeating: 0, count: Int(count[0])) }
            try bytes.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        }
    }

    // MARK: - Gathers

    /// One value per rank, in rank order, on every rank.
    public func allgathered(_ value: Int64) throws -> [Int64] {
        let call = "MPI_Allgather"
        return try locked(call) {
            guard let comm else { return [value] }
            var mine = value
            var all = [Int64](repeating: 0, count: size)
            try withUnsafeMutablePointer(to: &mine) { mine in
                try all.withUnsafeMutableBufferPointer { out in
                    let out = out.baseAddress
                    try perform(
                        call, blocking: { MPI_Allgather(mine, 1, cmpi_int64(), out, 1, cmpi_int64(), comm) },
                        start: { MPI_Iallgather(mine, 1, cmpi_int64(), out, 1, cmpi_int64(), comm, $0) })
                }
            }
            return all
        }
    }

    /// Root receives every rank's `local` (in rank order); other ranks get nil.
    /// Element counts are exchanged first (on all ranks, so that all reject a
    /// total above `Int32.max` bytes together); data moves as `MPI_BYTE`.
    public func gathered<T: BitwiseCopyable>(_ local: [T], root: Int) throws -> [[T]]? {
        let call = "MPI_Gatherv"
        return try locked(call) {
            try checkRoot(root, call)
            let layout = try byteLayout(of: local, call: call)
            guard let comm else { return [local] }
            if rank != root {
                try local.withUnsafeBytes { send in
                    let data = send.baseAddress ?? UnsafeRawPointer(Self.emptyBuffer), count = layout.counts[rank]
                    try perform(
                        call,
                        blocking: { MPI_Gatherv(data, count, cmpi_byte(), nil, nil, nil, cmpi_byte(), Int32(root), comm) },
                        start: { MPI_Igatherv(data, count, cmpi_byte(), nil, nil, nil, cmpi_byte(), Int32(root), comm, $0) })
                }
                return nil
            }
            let flat = try receiveFlat(local, layout: layout, call: call) { send, sendCount, recv, counts, displs, request in
                guard let request else {
                    return MPI_Gatherv(send, sendCount, cmpi_byte(), recv, counts, displs, cmpi_byte(), Int32(root), comm)
                }
                return MPI_Igatherv(
                    send, sendCount, cmpi_byte(), recv, counts, displs, cmpi_byte(), Int32(root), comm, request)
            }
            return split(flat, layout)
        }
    }

    /// Every rank receives every rank's `local`, in rank order.
    public func allgathered<T: BitwiseCopyable>(_ local: [T]) throws -> [[T]] {
        let call = "MPI_Allgatherv"
        return try locked(call) {
            let layout = try byteLayout(of: local, call: call)
            guard let comm else { return [local] }
            let flat = try receiveFlat(local, layout: layout, call: call) { send, sendCount, recv, counts, displs, request in
                guard let request else {
                    return MPI_Allgatherv(send, sendCount, cmpi_byte(), recv, counts, displs, cmpi_byte(), comm)
                }
                return MPI_Iallgatherv(send, sendCount, cmpi_byte(), recv, counts, displs, cmpi_byte(), comm, request)
            }
            return split(flat, layout)
        }
    }

    private struct ByteLayout {
        /// Per rank, in elements.
        var elements: [Int]
        /// Per rank, in bytes.
        var counts: [Int32]
        var displacements: [Int32]
        var totalElements: Int
    }

    private func byteLayout<T>(of local: [T], call: String) throws -> ByteLayout {
        let stride = MemoryLayout<T>.stride
        let elements = try allgathered(Int64(local.count)).map { Int($0) }
        var counts: [Int32] = []
        var displacements: [Int32] = []
        var offset = 0
        for (r, n) in elements.enumerated() {
            let bytes = n.multipliedReportingOverflow(by: stride)
            let end = offset.addingReportingOverflow(bytes.partialValue)
            guard !bytes.overflow, !end.overflow, end.partialValue <= Int(Int32.max) else {
                throw error(
                    call, MPI_ERR_COUNT,
                    "gathered size exceeds Int32.max bytes at rank \(r) (\(n) elements of \(stride) bytes)")
            }
            counts.append(Int32(bytes.partialValue))
            displacements.append(Int32(offset))
            offset = end.partialValue
        }
        return ByteLayout(
            elements: elements, counts: counts, displacements: displacements,
            totalElements: elements.reduce(0, +))
    }

    /// Runs a v-gather into one contiguous `[T]` sized from `layout`; `gather` starts the
    /// non-blocking variant when given a request, else runs the blocking one.
    private func receiveFlat<T: BitwiseCopyable>(
        _ local: [T], layout: ByteLayout, call: String,
        _ gather: (
            UnsafeRawPointer, Int32, UnsafeMutableRawPointer, UnsafePointer<Int32>, UnsafePointer<Int32>,
            UnsafeMutablePointer<MPI_Request?>?
        ) -> Int32
    ) throws -> [T] {
        var thrown: Error?
        let flat = [T](unsafeUninitializedCapacity: layout.totalElements) { out, initialized in
            local.withUnsafeBytes { send in
                layout.counts.withUnsafeBufferPointer { counts in
                    layout.displacements.withUnsafeBufferPointer { displs in
                        let data = send.baseAddress ?? UnsafeRawPointer(Self.emptyBuffer), count = layout.counts[rank]
                        let into = UnsafeMutableRawPointer(out.baseAddress) ?? Self.emptyBuffer
                        do {
                            try perform(
                                call, blocking: { gather(data, count, into, counts.baseAddress!, displs.baseAddress!, nil) },
                                start: { gather(data, count, into, counts.baseAddress!, displs.baseAddress!, $0) })
                        } catch {
                            thrown = error
                        }
                    }
                }
            }
            // Bitwise-copyable elements: nothing to clean up if the call failed.
            initialized = thrown == nil ? layout.totalElements : 0
        }
        if let thrown { throw thrown }
        return flat
    }

    private func split<T>(_ flat: [T], _ layout: ByteLayout) -> [[T]] {
        var result: [[T]] = []
        result.reserveCapacity(layout.elements.count)
        var start = 0
        for n in layout.elements {
            result.append(Array(flat[start..<(start + n)]))
            start += n
        }
        return result
    }

    // MARK: - Point to point

    /// Sends `values` as one message of `MPI_BYTE`s (the receiver sizes it with
    /// `MPI_Mprobe` + `MPI_Get_count`). Blocking `MPI_Send`: large messages wait
    /// for the matching receive, so order ring exchanges to avoid deadlock.
    public func send<T: BitwiseCopyable>(_ values: [T], to destination: Int, tag: Int) throws {
        let call = "MPI_Send"
        try locked(call) {
            try checkPeer(destination, call)
            try checkTag(tag, call)
            let bytes = values.count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            let n = try mpiCount(bytes.overflow ? Int.max : bytes.partialValue, call, what: "message size in bytes")
            guard let comm else {
                mailbox[tag, default: []].append(values.withUnsafeBytes { Array($0) })
                return
            }
            try values.withUnsafeBytes { raw in
                let data = raw.baseAddress ?? UnsafeRawPointer(Self.emptyBuffer)
                try perform(
                    call, peer: destination,
                    blocking: { MPI_Send(data, n, cmpi_byte(), Int32(destination), Int32(tag), comm) },
                    start: { MPI_Isend(data, n, cmpi_byte(), Int32(destination), Int32(tag), comm, $0) })
            }
        }
    }

    /// Receives one message sent by `send` from `source` with `tag`, whatever its length.
    /// Throws `MPI_ERR_TRUNCATE` (after consuming the message) if its byte count is
    /// not a whole number of `T`s.
    public func receive<T: BitwiseCopyable>(_ type: T.Type, from source: Int, tag: Int) throws -> [T] {
        let call = "MPI_Mrecv"
        return try locked(call) {
            try checkPeer(source, call)
            try checkTag(tag, call)
            let stride = MemoryLayout<T>.stride
            guard let comm else {
                let bytes = try popMailbox(tag: tag, call: call)
                guard bytes.count % stride == 0 else {
                    throw error(call, MPI_ERR_TRUNCATE, notWhole(bytes.count, T.self))
                }
                return bytes.withUnsafeBytes { raw in
                    [T](unsafeUninitializedCapacity: bytes.count / stride) { out, initialized in
                        if !raw.isEmpty { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
                        initialized = bytes.count / stride
                    }
                }
            }
            var message: MPI_Message? = cmpi_message_null()
            var status = MPI_Status()
            if let watchdog {
                try watchdog.wait(call: "MPI_Improbe", peer: source) {
                    var found: Int32 = 0
                    try check(MPI_Improbe(Int32(source), Int32(tag), comm, &found, &message, &status), "MPI_Improbe")
                    return found != 0
                }
            } else {
                try check(MPI_Mprobe(Int32(source), Int32(tag), comm, &message, &status), "MPI_Mprobe")
            }
            var bytes: Int32 = 0
            try check(MPI_Get_count(&status, cmpi_byte(), &bytes), "MPI_Get_count")
            guard bytes != cmpi_undefined(), bytes >= 0 else {
                throw error("MPI_Get_count", MPI_ERR_COUNT, "message size does not fit in Int32")
            }
            guard Int(bytes) % stride == 0 else {
                var scratch = [UInt8](repeating: 0, count: Int(bytes))
                try check(MPI_Mrecv(&scratch, bytes, cmpi_byte(), &message, cmpi_status_ignore()), call)
                throw error(call, MPI_ERR_TRUNCATE, notWhole(Int(bytes), T.self))
            }
            let count = Int(bytes) / stride
            var rc: Int32 = MPI_SUCCESS
            let values = [T](unsafeUninitializedCapacity: count) { out, initialized in
                rc = MPI_Mrecv(
                    UnsafeMutableRawPointer(out.baseAddress) ?? Self.emptyBuffer, bytes, cmpi_byte(), &message,
                    cmpi_status_ignore())
                initialized = rc == MPI_SUCCESS ? count : 0
            }
            try check(rc, call)
            return values
        }
    }

    /// Receives one message into `buffer` (plain `MPI_Recv`); returns the number
    /// of elements received. A longer message fails with `MPI_ERR_TRUNCATE` from MPI.
    public func receive<T: BitwiseCopyable>(
        into buffer: UnsafeMutableBufferPointer<T>, from source: Int, tag: Int
    ) throws -> Int {
        let call = "MPI_Recv"
        return try locked(call) {
            try checkPeer(source, call)
            try checkTag(tag, call)
            let stride = MemoryLayout<T>.stride
            let capacity = try mpiCount(buffer.count * stride, call, what: "buffer size in bytes")
            guard let comm else {
                let bytes = try popMailbox(tag: tag, call: call)
                guard bytes.count <= Int(capacity) else {
                    throw error(call, MPI_ERR_TRUNCATE, "\(bytes.count) bytes sent, room for \(capacity)")
                }
                guard bytes.count % stride == 0 else {
                    throw error(call, MPI_ERR_TRUNCATE, notWhole(bytes.count, T.self))
                }
                bytes.withUnsafeBytes { raw in
                    if !raw.isEmpty { UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
                }
                return bytes.count / stride
            }
            var status = MPI_Status()
            try check(
                MPI_Recv(
                    UnsafeMutableRawPointer(buffer.baseAddress) ?? Self.emptyBuffer, capacity, cmpi_byte(),
                    Int32(source), Int32(tag), comm, &status), call)
            var bytes: Int32 = 0
            try check(MPI_Get_count(&status, cmpi_byte(), &bytes), "MPI_Get_count")
            guard Int(bytes) % stride == 0 else {
                throw error(call, MPI_ERR_TRUNCATE, notWhole(Int(bytes), T.self))
            }
            return Int(bytes) / stride
        }
    }

    private func popMailbox(tag: Int, call: String) throws -> [UInt8] {
        guard var queue = mailbox[tag], !queue.isEmpty else {
            throw error(
                call, MPI_ERR_OTHER, "no message with tag \(tag) was sent to this singleton; MPI would block forever")
        }
        let first = queue.removeFirst()
        mailbox[tag] = queue.isEmpty ? nil : queue
        return first
    }

    private func notWhole<T>(_ bytes: Int, _: T.Type) -> String {
        "message of \(bytes) bytes is not a whole number of \(MemoryLayout<T>.stride)-byte \(T.self) values"
    }

    // MARK: - Non-blocking allreduce

    /// An allreduce in flight (`startAllreduce`); finish it with `wait`, let it progress with `test`.
    public final class PendingReduction {
        fileprivate var request: MPI_Request?
        fileprivate var done: Bool

        fileprivate init(request: MPI_Request?, done: Bool) {
            self.request = request
            self.done = done
        }
    }

    /// Reductions in flight, which the progress thread keeps moving.
    private var inFlight: [PendingReduction] = []
    private var progressThread: Thread?
    private let progressSignal = NSCondition()

    /// MPI moves a non-blocking operation's data only inside MPI calls, and backward spends
    /// milliseconds in one layer: a thread calls `MPI_Test` on the reductions in flight
    /// every 100 µs (taking the communicator's lock, so MPI is never entered by two threads
    /// at once, as `MPI_THREAD_SERIALIZED` requires), and sleeps while there are none.
    private func ensureProgressThread() {
        guard progressThread == nil else { return }
        let thread = Thread { [weak self] in
            while let self {
                self.progressSignal.lock()
                while self.inFlight.isEmpty && !self.finalized { self.progressSignal.wait() }
                let stop = self.finalized
                self.progressSignal.unlock()
                if stop { return }
                self.lock.lock()
                for pending in self.inFlight where !pending.done {
                    var flag: Int32 = 0
                    if MPI_Test(&pending.request, &flag, cmpi_status_ignore()) == MPI_SUCCESS, flag != 0 {
                        pending.done = true
                    }
                }
                self.progressSignal.lock()
                self.inFlight.removeAll { $0.done }
                self.progressSignal.unlock()
                self.lock.unlock()
                usleep(100)
            }
        }
        thread.name = "ies.mpi-progress"
        progressThread = thread
        thread.start()
    }

    /// Starts combining `buffer` over all ranks in place; the buffer must stay untouched
    /// until `wait` returns. Every rank starts the same reductions in the same order.
    public func startAllreduce<T: ReductionElement>(
        _ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation
    ) throws -> PendingReduction {
        try startReduction(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, type: T.reductionType.mpiDatatype,
            op: { operation.mpiOp })
    }

    /// Starts summing 16-bit values (`format`) over all ranks in place: each addition is done
    /// in Float32 and rounded back (an MPI user-defined operation).
    public func startSum(_ buffer: UnsafeMutableBufferPointer<UInt16>, format: HalfPrecision) throws -> PendingReduction {
        try startReduction(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, type: cmpi_uint16(),
            op: { try self.halfSum(format) })
    }

    /// Starts an in-place MPI_Iallreduce and hands it to the progress thread.
    private func startReduction(
        _ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?, op: () throws -> MPI_Op?
    ) throws -> PendingReduction {
        let call = "MPI_Iallreduce"
        return try locked(call) {
            let n = try mpiCount(count, call)
            guard let comm else { return PendingReduction(request: nil, done: true) }
            let operation = try op()
            watchdog?.arrive()
            var request: MPI_Request? = cmpi_request_null()
            try check(MPI_Iallreduce(cmpi_in_place(), base ?? Self.emptyBuffer, n, type, operation, comm, &request), call)
            let pending = PendingReduction(request: request, done: false)
            ensureProgressThread()
            progressSignal.lock()
            inFlight.append(pending)
            progressSignal.signal()
            progressSignal.unlock()
            return pending
        }
    }

    private var halfSums: [HalfPrecision: MPI_Op?] = [:]

    /// The MPI operation summing 16-bit values of `format` (created once).
    private func halfSum(_ format: HalfPrecision) throws -> MPI_Op? {
        if let op = halfSums[format] { return op }
        var op: MPI_Op? = nil
        switch format {
        case .bfloat16: try check(MPI_Op_create(sumBFloat16, 1, &op), "MPI_Op_create")
        case .float16: try check(MPI_Op_create(sumFloat16, 1, &op), "MPI_Op_create")
        }
        halfSums[format] = op
        return op
    }

    /// Lets a pending reduction progress (MPI moves data only inside MPI calls); true once done.
    @discardableResult
    public func test(_ pending: PendingReduction) throws -> Bool {
        let call = "MPI_Test"
        return try locked(call) {
            guard !pending.done else { return true }
            var flag: Int32 = 0
            try check(MPI_Test(&pending.request, &flag, cmpi_status_ignore()), call)
            pending.done = flag != 0
            return pending.done
        }
    }

    /// Waits for a pending reduction to finish (with the stall watchdog's deadline when it is on).
    public func wait(_ pending: PendingReduction) throws {
        let call = "MPI_Wait"
        try locked(call) {
            guard !pending.done else { return }
            if let watchdog {
                try watchdog.wait(call: "MPI_Iallreduce", peer: nil) {
                    var flag: Int32 = 0
                    try check(MPI_Test(&pending.request, &flag, cmpi_status_ignore()), call)
                    return flag != 0
                }
            } else {
                try check(MPI_Wait(&pending.request, cmpi_status_ignore()), call)
            }
            pending.done = true
        }
    }

    // MARK: - Synchronization and lifetime

    public func barrier() throws {
        let call = "MPI_Barrier"
        try locked(call) {
            guard let comm else { return }
            try perform(call, blocking: { MPI_Barrier(comm) }, start: { MPI_Ibarrier(comm, $0) })
        }
    }

    /// Ends every rank: `MPI_Abort(MPI_COMM_WORLD, code)` (the singleton, or after
    /// `finalize()`: `exit(code)`). Does not wait for the lock, so it also works
    /// while another thread is blocked in a collective.
    public func abort(code: Int32) -> Never {
        fflush(stdout)
        fflush(stderr)
        if let comm, Self.mpiActive {
            _ = MPI_Abort(comm, code)
        }
        exit(code)
    }

    /// `MPI_Finalize`, once; later calls do nothing. Any other operation after
    /// this throws instead of reaching MPI. A no-op for the singleton, which
    /// stays usable (it is shared by everything in the process).
    public func finalize() {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized, !isSingleton else { return }
        progressSignal.lock()
        finalized = true
        progressSignal.broadcast()
        progressSignal.unlock()
        if comm != nil, Self.mpiActive {
            _ = MPI_Finalize()
        }
    }

    // MARK: - Deadlines

    /// Waits on every collective and point-to-point transfer with a deadline of `timeout`
    /// seconds (see `StallWatchdog`): past it the job ends with status 76 and a message naming
    /// the ranks and hosts that did not arrive. A collective: every rank calls it.
    public func enableStallWatchdog(timeout: Double, grace: Double = 10) throws {
        guard let comm, size > 1, timeout > 0 else { return }
        let names = try allgathered(Array(processorName.utf8)).map { String(decoding: $0, as: UTF8.self) }
        watchdog = StallWatchdog(
            timeout: timeout, grace: grace, rank: rank, size: size, hosts: names, comm: comm,
            abort: { [self] code in abort(code: code) })
    }

    /// What the job is doing, named in a stall message ("epoch 3, training").
    public var activity: String {
        get { watchdog?.activity ?? "" }
        set { watchdog?.activity = newValue }
    }

    /// The exit status of a job the stall watchdog ended.
    public static let stallExitStatus = StallWatchdog.exitStatus

    /// Runs one MPI operation to completion: the blocking call, or, with the watchdog on, the
    /// non-blocking one (`start`) waited on with a deadline. `peer`: the rank a point-to-point
    /// transfer depends on (collectives count as arrivals for the watchers instead).
    private func perform(
        _ call: String, peer: Int? = nil, blocking: () -> Int32, start: (UnsafeMutablePointer<MPI_Request?>) -> Int32
    ) throws {
        guard let watchdog else { return try check(blocking(), call) }
        if peer == nil { watchdog.arrive() }
        var request: MPI_Request? = cmpi_request_null()
        try check(start(&request), call)
        try watchdog.wait(call: call, peer: peer) {
            var done: Int32 = 0
            try check(MPI_Test(&request, &done, cmpi_status_ignore()), call)
            return done != 0
        }
    }

    // MARK: - Checks

    /// True between `MPI_Init` and `MPI_Finalize` (both queries are legal at any time).
    private static var mpiActive: Bool {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        _ = MPI_Initialized(&initialized)
        _ = MPI_Finalized(&finalized)
        return initialized != 0 && finalized == 0
    }

    /// Runs `body` holding the lock, after refusing calls made after `finalize()`.
    private func locked<R>(_ call: String, _ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { throw error(call, MPI_ERR_OTHER, "called after finalize()") }
        return try body()
    }

    /// The one place MPI return codes are turned into errors.
    private func check(_ rc: Int32, _ call: String) throws {
        try Self.check(rc, call, rank: rank)
    }

    private static func check(_ rc: Int32, _ call: String, rank: Int) throws {
        guard rc != MPI_SUCCESS else { return }
        throw DistributedError(call: call, rank: rank, code: rc, message: errorString(rc))
    }

    /// An error found before reaching MPI, worded like MPI's own.
    private func error(_ call: String, _ code: Int32, _ detail: String) -> DistributedError {
        DistributedError(call: call, rank: rank, code: code, message: "\(Self.errorString(code)) (\(detail))")
    }

    private static func errorString(_ code: Int32) -> String {
        if mpiActive {
            var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
            var length: Int32 = 0
            if MPI_Error_string(code, &text, &length) == MPI_SUCCESS { return String(cString: text) }
        }
        // OpenMPI 4 refuses MPI_Error_string outside Init/Finalize; same texts.
        switch code {
        case MPI_ERR_COUNT: return "MPI_ERR_COUNT: invalid count argument"
        case MPI_ERR_TAG: return "MPI_ERR_TAG: invalid tag"
        case MPI_ERR_RANK: return "MPI_ERR_RANK: invalid rank"
        case MPI_ERR_ROOT: return "MPI_ERR_ROOT: invalid root"
        case MPI_ERR_TRUNCATE: return "MPI_ERR_TRUNCATE: message truncated"
        case MPI_ERR_OTHER: return "MPI_ERR_OTHER: known error not in list"
        default: return "MPI error \(code)"
        }
    }

    private func mpiCount(_ count: Int, _ call: String, what: String = "count") throws -> Int32 {
        guard count >= 0, count <= Int(Int32.max) else {
            throw error(call, MPI_ERR_COUNT, "\(what) \(count) is outside 0...\(Int32.max); split the data")
        }
        return Int32(count)
    }

    private func checkRoot(_ root: Int, _ call: String) throws {
        guard (0..<size).contains(root) else { throw error(call, MPI_ERR_ROOT, "root \(root) not in 0..<\(size)") }
    }

    private func checkPeer(_ peer: Int, _ call: String) throws {
        guard (0..<size).contains(peer) else { throw error(call, MPI_ERR_RANK, "rank \(peer) not in 0..<\(size)") }
    }

    private func checkTag(_ tag: Int, _ call: String) throws {
        guard (0...Self.maxTag).contains(tag) else {
            throw error(call, MPI_ERR_TAG, "tag \(tag) not in 0...\(Self.maxTag)")
        }
    }
}

// MARK: - MPI handles of the reduction types

extension ReductionOperation {
    fileprivate var mpiOp: MPI_Op? {
        switch self {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        case .bitwiseXor: return cmpi_op_bxor()
        }
    }
}

extension ReductionType {
    fileprivate var mpiDatatype: MPI_Datatype? {
        switch self {
        case .float32: return cmpi_float()
        case .float64: return cmpi_double()
        case .int32: return cmpi_int32()
        case .int64: return cmpi_int64()
        case .uint64: return cmpi_uint64()
        case .uint8: return cmpi_uint8()
        }
    }
}

// MARK: - MPI user operations for 16-bit sums (C function pointers: no captures)

private func sumBFloat16(
    _ input: UnsafeMutableRawPointer?, _ inout_: UnsafeMutableRawPointer?, _ length: UnsafeMutablePointer<Int32>?,
    _ type: UnsafeMutablePointer<MPI_Datatype?>?
) {
    sumHalves(input, inout_, length, .bfloat16)
}

private func sumFloat16(
    _ input: UnsafeMutableRawPointer?, _ inout_: UnsafeMutableRawPointer?, _ length: UnsafeMutablePointer<Int32>?,
    _ type: UnsafeMutablePointer<MPI_Datatype?>?
) {
    sumHalves(input, inout_, length, .float16)
}

/// inout[i] = round(in[i] + inout[i]), each addition in Float32.
@inline(__always)
private func sumHalves(
    _ input: UnsafeMutableRawPointer?, _ inout_: UnsafeMutableRawPointer?, _ length: UnsafeMutablePointer<Int32>?,
    _ format: HalfPrecision
) {
    guard let input, let inout_, let length else { return }
    let a = input.assumingMemoryBound(to: UInt16.self), b = inout_.assumingMemoryBound(to: UInt16.self)
    for i in 0..<Int(length.pointee) { b[i] = format.encode(format.decode(a[i]) + format.decode(b[i])) }
}
