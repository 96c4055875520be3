// Part of `Communicator` (see Communicator.swift, the only other file that imports CMPI).
import CMPI
import Foundation

/// Floats that the two ranks of a two-rank job on one host both map (an MPI shared-memory
/// window), summed in place by the ranks themselves (`Communicator.sum(_:)`): each adds
/// half of the elements, reading both ranks' memory, and writes the sums into both. No
/// message carries the data, so nothing is copied into or out of MPI's buffers.
///
/// With two ranks every element's sum is one addition, rank 0's term first, as
/// `MPI_Allreduce` adds them: the result is bit for bit MPI's, on both ranks.
public final class SharedPairSum {
    /// This rank's floats: write them, `sum`, then read the sums (zeroed when made).
    public let storage: UnsafeMutableBufferPointer<Float>
    /// The other rank's floats (the same count).
    let peer: UnsafeMutablePointer<Float>
    /// The elements this rank adds: the first half on rank 0, the rest on rank 1.
    let share: Range<Int>
    let isFirst: Bool
    var window: MPI_Win?

    init(storage: UnsafeMutableBufferPointer<Float>, peer: UnsafeMutablePointer<Float>, rank: Int, window: MPI_Win?) {
        self.storage = storage
        self.peer = peer
        self.window = window
        isFirst = rank == 0
        // Split at a multiple of 16 floats (one cache line), so no line is written by both ranks.
        let middle = (storage.count / 2 + 15) / 16 * 16
        share = rank == 0 ? 0..<min(middle, storage.count) : min(middle, storage.count)..<storage.count
    }

    /// a[i] = b[i] = first[i] + second[i] over `range`, 16 floats at a time.
    static func add(
        first: UnsafeMutablePointer<Float>, second: UnsafeMutablePointer<Float>, range: Range<Int>
    ) {
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let a = UnsafeRawPointer(first + i).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(second + i).loadUnaligned(as: SIMD16<Float>.self)
            let sum = a + b
            UnsafeMutableRawPointer(first + i).storeBytes(of: sum, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(second + i).storeBytes(of: sum, as: SIMD16<Float>.self)
            i += 16
        }
        while i < range.upperBound {
            let sum = first[i] + second[i]
            first[i] = sum
            second[i] = sum
            i += 1
        }
    }
}

/// `makeSharedPairSum` could not map its window on both ranks (thrown on both).
public struct SharedWindowUnavailable: Error, CustomStringConvertible {
    public let bytes: Int
    public let detail: String
    public var description: String { "no shared-memory window of \(bytes) bytes for the two ranks (\(detail))" }
}

extension Communicator {
    /// `count` floats in a window both ranks map, when the job is exactly two ranks that
    /// share this host; nil otherwise (one rank, more ranks, or two hosts), and for the
    /// singleton. A collective: both ranks call it with the same count. The window lives
    /// until `finalize()`. Throws `SharedWindowUnavailable` on both ranks when either could not
    /// map it (both can go on without it).
    public func makeSharedPairSum(count: Int) throws -> SharedPairSum? {
        guard let comm, size == 2, localSize == 2, count > 0 else { return nil }
        let call = "MPI_Win_allocate_shared"
        return try locked(call) {
            let bytes = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
            guard !bytes.overflow else { throw error(call, MPI_ERR_COUNT, "\(count) floats") }
            // OpenMPI backs the window with a file of both ranks' bytes; when the directory lacks
            // the room it fails on one rank and leaves the other waiting in the allocation, so
            // both ranks look first and agree (this also meets them under the watchdog's deadline).
            let (directory, room) = Self.sharedWindowRoom()
            let needed = 2 * bytes.partialValue + Self.sharedWindowMargin
            if try allreduced(room >= needed ? 0 : 1, .max) != 0 {
                throw SharedWindowUnavailable(bytes: needed, detail: "\(room) bytes free in \(directory) on a rank")
            }
            var base: UnsafeMutableRawPointer?
            var window: MPI_Win? = cmpi_win_null()
            try check(
                MPI_Win_allocate_shared(
                    MPI_Aint(bytes.partialValue), Int32(MemoryLayout<Float>.stride), cmpi_info_null(), comm, &base,
                    &window), call)
            try check(MPI_Win_set_errhandler(window, cmpi_errors_return()), "MPI_Win_set_errhandler")
            var peerBytes: MPI_Aint = 0
            var unit: Int32 = 0
            var peerBase: UnsafeMutableRawPointer?
            try check(
                MPI_Win_shared_query(window, Int32(1 - rank), &peerBytes, &unit, &peerBase), "MPI_Win_shared_query")
            guard let base, let peerBase, peerBytes == MPI_Aint(bytes.partialValue) else {
                throw error(
                    call, MPI_ERR_OTHER, "the other rank's window holds \(peerBytes) bytes, not \(bytes.partialValue)")
            }
            // One passive epoch for the window's life: MPI_Win_sync then orders this rank's
            // loads and stores against the other's around each barrier.
            try check(MPI_Win_lock_all(Int32(cmpi_mode_nocheck()), window), "MPI_Win_lock_all")
            let mine = base.bindMemory(to: Float.self, capacity: count)
            let storage = UnsafeMutableBufferPointer(start: mine, count: count)
            storage.initialize(repeating: 0)
            let pair = SharedPairSum(
                storage: storage, peer: peerBase.bindMemory(to: Float.self, capacity: count), rank: rank,
                window: window)
            pairSums.append(pair)
            return pair
        }
    }

    /// Sums both ranks' `pair` floats in place: afterwards both hold the sums, rank 0's term
    /// first (bit for bit `allreduce(.sum)`). A collective of the pair: two barriers (with
    /// the stall watchdog's deadline when it is on), between them this rank adds its half.
    public func sum(_ pair: SharedPairSum) throws {
        let call = "MPI_Win_sync"
        try locked(call) {
            guard pair.window != nil else { throw error(call, MPI_ERR_OTHER, "the shared window was freed") }
            // Both ranks' floats are written before either adds...
            try check(MPI_Win_sync(pair.window), call)
            try barrier()
            try check(MPI_Win_sync(pair.window), call)
            let mine = pair.storage.baseAddress!
            SharedPairSum.add(
                first: pair.isFirst ? mine : pair.peer, second: pair.isFirst ? pair.peer : mine, range: pair.share)
            // ...and both halves are summed before either reads its sums or writes again.
            try check(MPI_Win_sync(pair.window), call)
            try barrier()
            try check(MPI_Win_sync(pair.window), call)
        }
    }

    /// Room kept free beyond the windows' own bytes (OpenMPI's shared-memory transport uses
    /// the same directory).
    static let sharedWindowMargin = 16 << 20

    /// The directory OpenMPI's osc/sm component backs shared windows with (its
    /// `osc_sm_backing_directory`, /dev/shm by default) and the bytes free there (0 when it
    /// cannot be read).
    static func sharedWindowRoom() -> (directory: String, bytes: Int) {
        let directory = ProcessInfo.processInfo.environment["OMPI_MCA_osc_sm_backing_directory"] ?? "/dev/shm"
        var status = statvfs()
        guard statvfs(directory, &status) == 0 else { return (directory, 0) }
        return (directory, Int(status.f_bavail) * Int(status.f_frsize))
    }

    /// Frees the shared windows (collectives, at `finalize()`, which every rank reaches together).
    func freeSharedPairSums() {
        for pair in pairSums where pair.window != nil {
            _ = MPI_Win_unlock_all(pair.window)
            _ = MPI_Win_free(&pair.window)
            pair.window = nil
        }
        pairSums.removeAll()
    }
}
