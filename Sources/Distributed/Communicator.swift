// With its extensions (Communicator+PointToPoint.swift, Communicator+Nonblocking.swift,
// Communicator+SharedPairSum.swift), the only Swift code that imports CMPI: everything MPI
// goes through here.
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
    /// The OpenMPI parameters this process set before `MPI_Init`, as `name=value` without the
    /// `OMPI_MCA_` prefix (`NonblockingAllreduceAlgorithm`, `TCPEagerLimit`): the user chose none of them.
    public let parametersChosen: [String]

    /// `MPI_COMM_WORLD`; nil for the singleton.
    let comm: MPI_Comm?
    /// Serializes MPI calls (recursive: compound operations hold it throughout).
    let lock = NSRecursiveLock()
    var finalized = false
    /// Singleton only: messages sent to self, FIFO per tag.
    var mailbox: [Int: [[UInt8]]] = [:]
    /// Deadlines on every wait, when enabled (`enableStallWatchdog`).
    var watchdog: StallWatchdog?

    nonisolated(unsafe) static var shared: Communicator?
    static let sharedLock = NSLock()
    /// Stand-in address for empty buffers (MPI wants a valid pointer even for count 0).
    nonisolated(unsafe) static let emptyBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

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

    init(singleton: Void) {
        rank = 0
        size = 1
        localRank = 0
        localSize = 1
        isSingleton = true
        comm = nil
        parametersChosen = []
        var name = [CChar](repeating: 0, count: 256)
        processorName = gethostname(&name, name.count - 1) == 0 ? String(cString: name) : "localhost"
    }

    init(mpiWorld: Void) throws {
        // Until MPI_Comm_rank answers, errors name the rank mpirun announced.
        let envRank = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "") ?? -1
        var flag: Int32 = 0
        try Self.check(MPI_Initialized(&flag), "MPI_Initialized", rank: envRank)
        var chosen: [(name: String, value: String)] = []
        if flag == 0 {
            chosen = NonblockingAllreduceAlgorithm.applyDefault() + TCPEagerLimit.applyDefault()
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
        parametersChosen = chosen.map { "\($0.name.replacingOccurrences(of: "OMPI_MCA_", with: ""))=\($0.value)" }
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
            // Always the non-blocking call, watchdog or not: libnbc's algorithm (see
            // `NonblockingAllreduceAlgorithm`) is then the only one that sums, so on 3 or more
            // ranks `--stall-timeout` cannot change the rounding of a sum (the blocking
            // MPI_Allreduce of coll/tuned adds in another order).
            try complete(call, start: { MPI_Iallreduce(cmpi_in_place(), data, n, type, op, comm, $0) })
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

    // MARK: - Non-blocking allreduce state (methods in Communicator+Nonblocking.swift)

    /// Reductions in flight, which the progress thread keeps moving.
    var inFlight: [PendingReduction] = []
    var progressThread: Thread?
    let progressSignal = NSCondition()
    var halfSums: [HalfPrecision: MPI_Op?] = [:]
    /// Shared-memory windows made by `makeSharedPairSum` (Communicator+SharedPairSum.swift).
    var pairSums: [SharedPairSum] = []

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
            freeSharedPairSums()
            _ = MPI_Finalize()
        }
    }

    // MARK: - Deadlines

    /// Waits on every collective and point-to-point transfer with a deadline of `timeout`
    /// seconds (see `StallWatchdog`): past it the job ends with `ExitStatus.stalled` (76) and a message naming
    /// the ranks and hosts that did not arrive. A collective: every rank calls it.
    public func enableStallWatchdog(timeout: Double, grace: Double = 10) throws {
        guard let comm, size > 1 else { return }
        // Every rank takes part whatever its timeout, so ranks given different timeouts stop
        // here with a message instead of some entering the watchdog's collective alone.
        let timeouts = try allgathered([timeout.bitPattern])
        if let other = timeouts.firstIndex(where: { $0 != timeouts[0] }) {
            throw RanksDisagree(
                "rank \(other) was given a stall timeout of \(Double(bitPattern: timeouts[other][0])) s, rank 0 "
                    + "\(Double(bitPattern: timeouts[0][0])) s: give every rank the same --stall-timeout")
        }
        guard timeout > 0 else { return }
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

    /// Runs one MPI operation to completion: the blocking call, or, with the watchdog on, the
    /// non-blocking one (`start`) waited on with a deadline. `peer`: the rank a point-to-point
    /// transfer depends on (collectives count as arrivals for the watchers instead).
    func perform(
        _ call: String, peer: Int? = nil, blocking: () -> Int32, start: (UnsafeMutablePointer<MPI_Request?>) -> Int32
    ) throws {
        guard watchdog != nil else { return try check(blocking(), call) }
        try complete(call, peer: peer, start: start)
    }

    /// Starts the non-blocking operation `start` and waits for it: with the watchdog's
    /// deadline when it is on, else in `MPI_Wait`.
    func complete(_ call: String, peer: Int? = nil, start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws {
        var request: MPI_Request? = cmpi_request_null()
        guard let watchdog else {
            try check(start(&request), call)
            return try check(MPI_Wait(&request, cmpi_status_ignore()), call)
        }
        if peer == nil { watchdog.arrive() }
        try check(start(&request), call)
        try watchdog.wait(call: call, peer: peer) {
            var done: Int32 = 0
            try check(MPI_Test(&request, &done, cmpi_status_ignore()), call)
            return done != 0
        }
    }

    // MARK: - Checks

    /// True between `MPI_Init` and `MPI_Finalize` (both queries are legal at any time).
    static var mpiActive: Bool {
        var initialized: Int32 = 0
        var finalized: Int32 = 0
        _ = MPI_Initialized(&initialized)
        _ = MPI_Finalized(&finalized)
        return initialized != 0 && finalized == 0
    }

    /// Runs `body` holding the lock, after refusing calls made after `finalize()`.
    func locked<R>(_ call: String, _ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { throw error(call, MPI_ERR_OTHER, "called after finalize()") }
        return try body()
    }

    /// The one place MPI return codes are turned into errors.
    func check(_ rc: Int32, _ call: String) throws {
        try Self.check(rc, call, rank: rank)
    }

    static func check(_ rc: Int32, _ call: String, rank: Int) throws {
        guard rc != MPI_SUCCESS else { return }
        throw DistributedError(call: call, rank: rank, code: rc, message: errorString(rc))
    }

    /// An error found before reaching MPI, worded like MPI's own.
    func error(_ call: String, _ code: Int32, _ detail: String) -> DistributedError {
        DistributedError(call: call, rank: rank, code: code, message: "\(Self.errorString(code)) (\(detail))")
    }

    static func errorString(_ code: Int32) -> String {
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

    func mpiCount(_ count: Int, _ call: String, what: String = "count") throws -> Int32 {
        guard count >= 0, count <= Int(Int32.max) else {
            throw error(call, MPI_ERR_COUNT, "\(what) \(count) is outside 0...\(Int32.max); split the data")
        }
        return Int32(count)
    }

    func checkRoot(_ root: Int, _ call: String) throws {
        guard (0..<size).contains(root) else { throw error(call, MPI_ERR_ROOT, "root \(root) not in 0..<\(size)") }
    }

    func checkPeer(_ peer: Int, _ call: String) throws {
        guard (0..<size).contains(peer) else { throw error(call, MPI_ERR_RANK, "rank \(peer) not in 0..<\(size)") }
    }

    func checkTag(_ tag: Int, _ call: String) throws {
        guard (0...Self.maxTag).contains(tag) else {
            throw error(call, MPI_ERR_TAG, "tag \(tag) not in 0...\(Self.maxTag)")
        }
    }
}

// MARK: - MPI handles of the reduction types

extension ReductionOperation {
    var mpiOp: MPI_Op? {
        switch self {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        case .bitwiseXor: return cmpi_op_bxor()
        }
    }
}

extension ReductionType {
    var mpiDatatype: MPI_Datatype? {
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
