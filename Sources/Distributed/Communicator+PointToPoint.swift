// Part of `Communicator` (see Communicator.swift, the only other file that imports CMPI).
import CMPI
import Foundation

extension Communicator {
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

    struct ByteLayout {
        /// Per rank, in elements.
        var elements: [Int]
        /// Per rank, in bytes.
        var counts: [Int32]
        var displacements: [Int32]
        var totalElements: Int
    }

    func byteLayout<T>(of local: [T], call: String) throws -> ByteLayout {
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
    func receiveFlat<T: BitwiseCopyable>(
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

    func split<T>(_ flat: [T], _ layout: ByteLayout) -> [[T]] {
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

    func popMailbox(tag: Int, call: String) throws -> [UInt8] {
        guard var queue = mailbox[tag], !queue.isEmpty else {
            throw error(
                call, MPI_ERR_OTHER, "no message with tag \(tag) was sent to this singleton; MPI would block forever")
        }
        let first = queue.removeFirst()
        mailbox[tag] = queue.isEmpty ? nil : queue
        return first
    }

    func notWhole<T>(_ bytes: Int, _: T.Type) -> String {
        "message of \(bytes) bytes is not a whole number of \(MemoryLayout<T>.stride)-byte \(T.self) values"
    }
}
