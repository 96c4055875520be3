// Part of `Communicator` (see Communicator.swift, the only other file that imports CMPI).
import CMPI
import Foundation

extension Communicator {
    // MARK: - Non-blocking allreduce

    /// An allreduce in flight (`startAllreduce`); finish it with `wait`, let it progress with `test`.
    public final class PendingReduction {
        var request: MPI_Request?
        var done: Bool

        init(request: MPI_Request?, done: Bool) {
            self.request = request
            self.done = done
        }
    }


    /// MPI moves a non-blocking operation's data only inside MPI calls, and backward spends
    /// milliseconds in one layer: a thread calls `MPI_Test` on the reductions in flight
    /// every 100 µs (taking the communicator's lock, so MPI is never entered by two threads
    /// at once, as `MPI_THREAD_SERIALIZED` requires), and sleeps while there are none.
    func ensureProgressThread() {
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
    /// `background`: the progress thread moves it meanwhile (else only `test` and `wait` do,
    /// for a reduction waited on at once: no thread then competes with compute for a core).
    public func startAllreduce<T: ReductionElement>(
        _ buffer: UnsafeMutableBufferPointer<T>, _ operation: ReductionOperation, background: Bool = true
    ) throws -> PendingReduction {
        try startReduction(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, type: T.reductionType.mpiDatatype,
            op: { operation.mpiOp }, background: background)
    }

    /// Starts summing 16-bit values (`format`) over all ranks in place: each addition is done
    /// in Float32 and rounded back (an MPI user-defined operation).
    public func startSum(
        _ buffer: UnsafeMutableBufferPointer<UInt16>, format: HalfPrecision, background: Bool = true
    ) throws -> PendingReduction {
        try startReduction(
            UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, type: cmpi_uint16(),
            op: { try self.halfSum(format) }, background: background)
    }

    /// Starts an in-place MPI_Iallreduce and, with `background`, hands it to the progress thread.
    func startReduction(
        _ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?, op: () throws -> MPI_Op?, background: Bool
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
            guard background else { return pending }
            ensureProgressThread()
            progressSignal.lock()
            inFlight.append(pending)
            progressSignal.signal()
            progressSignal.unlock()
            return pending
        }
    }


    /// The MPI operation summing 16-bit values of `format` (created once).
    func halfSum(_ format: HalfPrecision) throws -> MPI_Op? {
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
