import Distributed
import XCTest

/// The test runner is not launched by mpirun, so `world()` is the singleton:
/// MPI is never initialized here.
final class SingletonTests: XCTestCase {
    private var comm: Communicator!

    override func setUpWithError() throws {
        try XCTSkipIf(Communicator.isLaunchedByMPIRun, "the test runner itself runs under mpirun")
        comm = try Communicator.world()
    }

    func testWorldIsOneRankAndIdempotent() throws {
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
        XCTAssertEqual(comm.localRank, 0)
        XCTAssertEqual(comm.localSize, 1)
        XCTAssertTrue(comm.isSingleton)
        XCTAssertFalse(comm.processorName.isEmpty)
        XCTAssertTrue(try Communicator.world() === comm)
        XCTAssertTrue(Communicator.singleton === comm)
    }

    func testAllreducesAreIdentities() throws {
        var f: [Float] = [1.5, -2, 3e30, .infinity]
        try f.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        XCTAssertEqual(f, [1.5, -2, 3e30, .infinity])

        var d: [Double] = [0.1, -0.2, 1e300]
        try d.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        try d.withUnsafeMutableBufferPointer { try comm.allreduce($0, .max) }
        XCTAssertEqual(d, [0.1, -0.2, 1e300])

        var l: [Int64] = [.min, -1, 0, .max]
        try l.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        try l.withUnsafeMutableBufferPointer { try comm.allreduce($0, .max) }
        XCTAssertEqual(l, [.min, -1, 0, .max])

        var x: [UInt64] = [0xDEAD_BEEF, .max]
        try x.withUnsafeMutableBufferPointer { try comm.allreduce($0, .bitwiseXor) }
        XCTAssertEqual(x, [0xDEAD_BEEF, .max])

        var empty: [Float] = []
        try empty.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        XCTAssertEqual(try comm.allreduced(-5, .sum), -5)
        XCTAssertEqual(try comm.allreduced(42, .max), 42)
    }

    func testBroadcastAndGathersAreIdentities() throws {
        var f: [Float] = [1, 2, 3]
        try f.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        XCTAssertEqual(f, [1, 2, 3])
        var u: [UInt8] = [9, 8]
        try u.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        XCTAssertEqual(u, [9, 8])
        var l: [Int64] = [-4]
        try l.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        XCTAssertEqual(l, [-4])
        var d: [Double] = [0.25]
        try d.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        XCTAssertEqual(d, [0.25])
        var bytes: [UInt8] = Array("hello".utf8)
        try comm.broadcast(bytes: &bytes, root: 0)
        XCTAssertEqual(bytes, Array("hello".utf8))

        XCTAssertEqual(try comm.allgathered(7), [7])
        let local: [Int32] = [3, 1, 4, 1, 5]
        XCTAssertEqual(try comm.gathered(local, root: 0), [local])
        XCTAssertEqual(try comm.allgathered(local), [local])
        XCTAssertEqual(try comm.gathered([Double](), root: 0), [[]])
        try comm.barrier()
    }

    func testSendToSelfIsQueuedPerTag() throws {
        try comm.send([1, 2, 3] as [Int64], to: 0, tag: 1)
        try comm.send([4.5] as [Double], to: 0, tag: 2)
        try comm.send([5, 6] as [Int64], to: 0, tag: 1)
        XCTAssertEqual(try comm.receive(Double.self, from: 0, tag: 2), [4.5])
        XCTAssertEqual(try comm.receive(Int64.self, from: 0, tag: 1), [1, 2, 3])
        var buffer = [Int64](repeating: 0, count: 4)
        let n = try buffer.withUnsafeMutableBufferPointer { try comm.receive(into: $0, from: 0, tag: 1) }
        XCTAssertEqual(n, 2)
        XCTAssertEqual(buffer, [5, 6, 0, 0])
        // Bytes are reinterpreted, as MPI_BYTE messages would be.
        try comm.send([1, 0, 0, 0] as [UInt8], to: 0, tag: 3)
        XCTAssertEqual(try comm.receive(UInt32.self, from: 0, tag: 3), [1])
        try comm.send([UInt8](), to: 0, tag: 4)
        XCTAssertEqual(try comm.receive(UInt8.self, from: 0, tag: 4), [])
    }

    func testFinalizeLeavesTheSingletonUsable() throws {
        comm.finalize()
        comm.finalize()
        XCTAssertEqual(try comm.allreduced(3, .sum), 3)
        try comm.barrier()
    }

    // MARK: - Errors (same validation as under mpirun -np 1)

    private func assertThrows(
        _ call: String, _ prefix: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Void
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let error = error as? DistributedError else {
                return XCTFail("not a DistributedError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.call, call, file: file, line: line)
            XCTAssertEqual(error.rank, 0, file: file, line: line)
            XCTAssertTrue(error.message.hasPrefix(prefix), "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix("\(call) failed on rank 0: \(prefix)"), "\(error)", file: file, line: line)
        }
    }

    func testInvalidRootsPeersAndTagsThrow() {
        assertThrows("MPI_Bcast", "MPI_ERR_ROOT: invalid root") {
            var f: [Float] = [1]
            try f.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 1) }
        }
        assertThrows("MPI_Bcast", "MPI_ERR_ROOT") {
            var bytes: [UInt8] = [1]
            try comm.broadcast(bytes: &bytes, root: -1)
        }
        assertThrows("MPI_Gatherv", "MPI_ERR_ROOT") { _ = try comm.gathered([1] as [Float], root: 1) }
        assertThrows("MPI_Send", "MPI_ERR_RANK: invalid rank") { try comm.send([1] as [Float], to: 1, tag: 0) }
        assertThrows("MPI_Send", "MPI_ERR_TAG: invalid tag") { try comm.send([1] as [Float], to: 0, tag: -1) }
        assertThrows("MPI_Mrecv", "MPI_ERR_TAG") { _ = try comm.receive(Float.self, from: 0, tag: 32768) }
        assertThrows("MPI_Mrecv", "MPI_ERR_RANK") { _ = try comm.receive(Float.self, from: 2, tag: 0) }
    }

    func testCountsAboveInt32MaxAreRejected() throws {
        // The buffers are never dereferenced: the count is refused first.
        var one: Float = 0
        withUnsafeMutablePointer(to: &one) { p in
            let huge = UnsafeMutableBufferPointer(start: p, count: Int(Int32.max) + 1)
            assertThrows("MPI_Allreduce", "MPI_ERR_COUNT: invalid count argument") { try comm.allreduce(huge, .sum) }
            assertThrows("MPI_Bcast", "MPI_ERR_COUNT") { try comm.broadcast(huge, root: 0) }
        }
        var exact: Float = 0
        try withUnsafeMutablePointer(to: &exact) { p in
            // Int32.max elements is allowed (the singleton does not touch them).
            try comm.allreduce(UnsafeMutableBufferPointer(start: p, count: Int(Int32.max)), .sum)
        }
    }

    func testReceiveMismatchesThrowAndConsumeTheMessage() throws {
        assertThrows("MPI_Mrecv", "MPI_ERR_OTHER") { _ = try comm.receive(Int64.self, from: 0, tag: 20) }

        try comm.send([UInt8](repeating: 7, count: 5), to: 0, tag: 21)
        assertThrows("MPI_Mrecv", "MPI_ERR_TRUNCATE: message truncated") {
            _ = try comm.receive(Int32.self, from: 0, tag: 21)
        }
        try comm.send([1, 2, 3] as [Int64], to: 0, tag: 21)
        var small = [Int64](repeating: 0, count: 2)
        assertThrows("MPI_Recv", "MPI_ERR_TRUNCATE") {
            _ = try small.withUnsafeMutableBufferPointer { try comm.receive(into: $0, from: 0, tag: 21) }
        }
        // Both bad messages were consumed.
        assertThrows("MPI_Mrecv", "MPI_ERR_OTHER") { _ = try comm.receive(UInt8.self, from: 0, tag: 21) }
    }

    func testErrorDescription() {
        let error = DistributedError(call: "MPI_Allreduce", rank: 1, code: 15, message: "MPI_ERR_TRUNCATE: message truncated")
        XCTAssertEqual("\(error)", "MPI_Allreduce failed on rank 1: MPI_ERR_TRUNCATE: message truncated")
    }
}
