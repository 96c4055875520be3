import ArgumentParser
import Distributed
import Foundation

/// `ies-testbed mpi-selftest`: runs every `Communicator` operation with rank-dependent
/// data and checks each result against its closed form. Prints
/// `mpi-selftest ok rank R of S local L/LS` per rank on success; otherwise the
/// mismatches go to stderr and every rank exits with status 1.
struct MPISelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-selftest",
        abstract: "Check the MPI layer: run under mpirun (any -np), or alone as a one-rank singleton.")

    @Flag(help: "Ranks sleep rank*0.2 s before the collectives, to show that they still complete.")
    var hangCheck = false

    @Flag(help: "Also check that bad calls throw DistributedError naming the call, without hanging.")
    var errorCheck = false

    @Option(help: "Length of the large arrays.")
    var length = 100_003

    @Option(help: .hidden)  // Test hook: this rank records a deliberate mismatch.
    var failOnRank: Int?

    @Option(help: .hidden)  // Test hook: this rank calls abort(code: 3) while the others wait in a barrier.
    var abortOnRank: Int?

    @Option(help: .hidden)  // Test hook: this rank never reaches the collectives (a hang, for timeout handling).
    var hangOnRank: Int?

    func validate() throws {
        guard length >= 1 else { throw ValidationError("--length must be positive") }
    }

    func run() throws {
        let comm = try Communicator.world()
        if abortOnRank == comm.rank {
            SelfTestSuite.printError("mpi-selftest rank \(comm.rank): aborting on request")
            comm.abort(code: 3)
        }
        if hangOnRank == comm.rank {
            SelfTestSuite.printError("mpi-selftest rank \(comm.rank): hanging on request")
            while true { sleep(1) }
        }
        let suite = SelfTestSuite(comm: comm, length: length, hangCheck: hangCheck)
        if failOnRank == comm.rank { suite.expect(false, "deliberate mismatch (--fail-on-rank)") }
        let verdict: Int
        do {
            try suite.runAll()
            if errorCheck { try suite.runErrorChecks() }
            // Agree on the verdict, so that every rank ends the same way.
            verdict = try comm.allreduced(suite.failures.isEmpty ? 0 : 1, .max)
        } catch {
            SelfTestSuite.printError("mpi-selftest rank \(comm.rank): unexpected error: \(error)")
            comm.abort(code: 1)
        }
        if verdict != 0 {
            if suite.failures.isEmpty {
                SelfTestSuite.printError("mpi-selftest rank \(comm.rank): all checks passed here; another rank failed")
            }
            for failure in suite.failures {
                SelfTestSuite.printError("mpi-selftest rank \(comm.rank) of \(comm.size): MISMATCH \(failure)")
            }
            comm.finalize()
            throw ExitCode(1)
        }
        print("mpi-selftest ok rank \(comm.rank) of \(comm.size) local \(comm.localRank)/\(comm.localSize)")
        fflush(stdout)
        comm.finalize()
        comm.finalize()  // must be harmless
        if errorCheck && !comm.isSingleton {
            do {
                try comm.barrier()
                SelfTestSuite.printError("mpi-selftest rank \(comm.rank): barrier after finalize() did not throw")
                throw ExitCode(1)
            } catch let error as DistributedError {
                print("mpi-selftest caught: \(error)")
            }
        }
    }
}

/// A bitwise-copyable record with padding (stride 24), for the byte-wise generics.
private struct SelfTestRecord: Equatable {
    var a: Int32
    var b: Double
    var c: UInt8
}

private final class SelfTestSuite {
    let comm: Communicator
    let length: Int
    let hangCheck: Bool
    var failures: [String] = []

    init(comm: Communicator, length: Int, hangCheck: Bool) {
        self.comm = comm
        self.length = length
        self.hangCheck = hangCheck
    }

    var r: Int { comm.rank }
    var s: Int { comm.size }
    /// 0 + 1 + ... + (S-1)
    var triangle: Int { s * (s - 1) / 2 }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    func expect(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok { failures.append(what()) }
    }

    /// Compares element by element; records the first few mismatches.
    func expectEqual<T: Equatable>(_ got: [T], _ want: [T], _ what: String) {
        guard got.count == want.count else {
            failures.append("\(what): \(got.count) elements, expected \(want.count)")
            return
        }
        var shown = 0
        var total = 0
        for i in got.indices where got[i] != want[i] {
            total += 1
            if shown < 3 {
                failures.append("\(what)[\(i)] = \(got[i]), expected \(want[i])")
                shown += 1
            }
        }
        if total > shown { failures.append("\(what): \(total) mismatching elements in all") }
    }

    /// Uneven local work before collectives (with --hang-check).
    func stagger() {
        if hangCheck { Thread.sleep(forTimeInterval: Double(r) * 0.2) }
    }

    func runAll() throws {
        try checkIdentity()
        stagger()
        try checkAllreduce()
        stagger()
        try checkSharedPairSum()
        stagger()
        try checkBroadcast()
        stagger()
        try checkGathers()
        stagger()
        try checkPointToPoint()
        stagger()
        try checkBarrier()
    }

    func checkIdentity() throws {
        expect((0..<s).contains(r), "rank \(r) not in 0..<\(s)")
        expect(comm.isSingleton == !Communicator.isLaunchedByMPIRun, "isSingleton \(comm.isSingleton)")
        expect(
            (0..<comm.localSize).contains(comm.localRank) && comm.localSize <= s,
            "local rank \(comm.localRank) of \(comm.localSize) with world size \(s)")
        expect(!comm.processorName.isEmpty, "empty processor name")
        expect(try comm.allreduced(1, .sum) == s, "sum of 1 over ranks")
        let ranks = try comm.allgathered(Int64(r))
        expectEqual(ranks, (0..<s).map { Int64($0) }, "allgather(rank)")
        // Exactly one local rank 0 per node; nodes partition the world.
        let nodeLeaders = try comm.allreduced(comm.localRank == 0 ? 1 : 0, .sum)
        let localSizeSum = try comm.allreduced(comm.localRank == 0 ? comm.localSize : 0, .sum)
        expect(nodeLeaders >= 1 && localSizeSum == s, "nodes: \(nodeLeaders) leaders, local sizes sum to \(localSizeSum)")
    }

    func checkAllreduce() throws {
        let n = length
        expect(try comm.allreduced(r + 1, .sum) == s * (s + 1) / 2, "allreduceSum(rank+1)")
        expect(try comm.allreduced(r + 1, .max) == s, "allreduceMax(rank+1)")
        expect(try comm.allreduced(-r, .max) == 0, "allreduceMax(-rank)")

        // Float: rank r contributes r*i; exact while i*triangle < 2^24.
        var f = (0..<n).map { Float(r * $0) }
        try f.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        expectEqual(f, (0..<n).map { Float($0 * triangle) }, "allreduceSum(Float r*i)")

        var d = (0..<n).map { Double(r * $0) + 0.5 }
        try d.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        expectEqual(d, (0..<n).map { Double($0 * triangle) + 0.5 * Double(s) }, "allreduceSum(Double r*i+0.5)")

        var l = (0..<n).map { Int64(r) * Int64($0) * 1_000_003 + Int64(r) }
        try l.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        expectEqual(
            l, (0..<n).map { Int64($0) * 1_000_003 * Int64(triangle) + Int64(triangle) },
            "allreduceSum(Int64 r*i*1000003+r)")

        // (r+i) mod S takes every residue once over the ranks.
        var m = (0..<n).map { Int64((r + $0) % s) * 3 - 5 }
        try m.withUnsafeMutableBufferPointer { try comm.allreduce($0, .max) }
        expectEqual(m, [Int64](repeating: Int64(s - 1) * 3 - 5, count: n), "allreduceMax(Int64 3((r+i)%S)-5)")

        var dm = (0..<n).map { -Double($0) * Double(r + 1) }
        try dm.withUnsafeMutableBufferPointer { try comm.allreduce($0, .max) }
        expectEqual(dm, (0..<n).map { -Double($0) }, "allreduceMax(Double -i(r+1))")

        func word(_ rank: Int, _ i: Int) -> UInt64 {
            (UInt64(rank + 1) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(i) << UInt64(rank % 48))
        }
        var x = (0..<n).map { word(r, $0) }
        try x.withUnsafeMutableBufferPointer { try comm.allreduce($0, .bitwiseXor) }
        expectEqual(x, (0..<n).map { i in (0..<s).reduce(UInt64(0)) { $0 ^ word($1, i) } }, "allreduceBitwiseXor")

        var empty: [Float] = []
        try empty.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
        expect(empty.isEmpty, "allreduceSum of an empty buffer")
    }

    /// Two ranks on one host sum in a shared window, bit for bit as MPI's allreduce, over
    /// several rounds in one window with the ranks arriving at different times; other
    /// layouts get no window.
    func checkSharedPairSum() throws {
        guard s == 2 && comm.localSize == 2 else {
            expect(
                try comm.makeSharedPairSum(count: 64) == nil,
                "a shared pair sum with \(s) rank(s), \(comm.localSize) here")
            return
        }
        expect(try comm.makeSharedPairSum(count: 0) == nil, "a shared pair sum of 0 floats")
        var generator = SystemRandomNumberGenerator()
        for count in [1, 17, 40_003] {
            guard let pair = try comm.makeSharedPairSum(count: count) else {
                failures.append("no shared pair sum of \(count) floats for 2 ranks on one host")
                return
            }
            expect(pair.storage.allSatisfy { $0 == 0 }, "a new shared window of \(count) floats is not zeroed")
            for round in 0..<3 {
                // Random bits of every exponent, both signs of zero, and values that cancel.
                let values: [Float] = (0..<count).map { i in
                    switch (i + round) % 5 {
                    case 0:
                        let bits = UInt32.random(in: 0...0x7F7F_FFFF, using: &generator)
                        return Float(bitPattern: bits) * (r == 0 ? 1 : -1)
                    case 1: return r == 0 ? 0 : -0.0
                    case 2: return Float(i) * (r == 0 ? 0.1 : -0.1)
                    default: return Float.random(in: -1...1, using: &generator) * Float(1 << (i % 20))
                    }
                }
                var expected = values
                try expected.withUnsafeMutableBufferPointer { try comm.allreduce($0, .sum) }
                // The later rank writes late: the first barrier must hold the other back.
                if r == round % 2 { Thread.sleep(forTimeInterval: 0.05) }
                _ = pair.storage.update(from: values)
                try comm.sum(pair)
                let got = pair.storage.map(\.bitPattern), want = expected.map(\.bitPattern)
                expectEqual(got, want, "shared pair sum of \(count) floats, round \(round)")
            }
        }
    }

    func checkBroadcast() throws {
        let n = length
        let root = s - 1
        let isRoot = r == root

        var f = (0..<n).map { isRoot ? Float($0) * 0.25 + Float(root) : -1 }
        try f.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
        expectEqual(f, (0..<n).map { Float($0) * 0.25 + Float(root) }, "broadcast(Float) from \(root)")

        var d = (0..<n).map { isRoot ? Double($0) * 1e-3 + Double(root) : .nan }
        try d.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
        expectEqual(d, (0..<n).map { Double($0) * 1e-3 + Double(root) }, "broadcast(Double) from \(root)")

        var l = (0..<n).map { isRoot ? Int64($0) * -7 + Int64(root) : 0 }
        try l.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: root) }
        expectEqual(l, (0..<n).map { Int64($0) * -7 + Int64(root) }, "broadcast(Int64) from \(root)")

        var u = (0..<n).map { r == 0 ? UInt8(truncatingIfNeeded: $0 &* 31) : 0 }
        try u.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
        expectEqual(u, (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31) }, "broadcast(UInt8) from 0")

        // Variable length: non-roots start with a different length.
        let mid = s / 2
        func rootBytes(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 ^ mid) } }
        var bytes = r == mid ? rootBytes(1000 + mid) : [UInt8](repeating: 0xFF, count: r * 5)
        try comm.broadcast(bytes: &bytes, root: mid)
        expectEqual(bytes, rootBytes(1000 + mid), "broadcast(bytes:) from \(mid)")

        var none: [UInt8] = r == 0 ? [] : [1, 2, 3]
        try comm.broadcast(bytes: &none, root: 0)
        expect(none.isEmpty, "broadcast(bytes:) of an empty array left \(none.count) bytes")
    }

    func checkGathers() throws {
        func ints(_ rank: Int) -> [Int32] { (0..<(rank * 3 + 1)).map { Int32(rank * 1000 + $0) } }
        func doubles(_ rank: Int) -> [Double] { (0..<rank).map { Double(rank) + Double($0) / 8 } }
        func records(_ rank: Int) -> [SelfTestRecord] {
            (0..<((s - rank) % 3)).map { SelfTestRecord(a: Int32(-rank), b: Double($0) + 0.5, c: UInt8(rank & 0xFF)) }
        }
        func floats(_ rank: Int) -> [Float] { (0..<(rank * 3 + 1)).map { Float(rank) - Float($0) } }

        let gathered = try comm.gathered(ints(r), root: 0)
        if r == 0 {
            expectEqual(gathered ?? [], (0..<s).map(ints), "gatherv(Int32 r*3+1 elements) at root 0")
        } else {
            expect(gathered == nil, "gatherv returned data on non-root rank")
        }

        let root = s - 1
        let gd = try comm.gathered(doubles(r), root: root)
        if r == root {
            expectEqual(gd ?? [], (0..<s).map(doubles), "gatherv(Double r elements) at root \(root)")
        } else {
            expect(gd == nil, "gatherv returned data on non-root rank")
        }

        let all = try comm.allgathered(floats(r))
        expectEqual(all, (0..<s).map(floats), "allgatherv(Float r*3+1 elements)")

        let rec = try comm.allgathered(records(r))
        expectEqual(rec, (0..<s).map(records), "allgatherv(24-byte records, some empty)")

        let big = try comm.allgathered([Double](repeating: Double(r), count: length))
        expectEqual(big.map(\.count), [Int](repeating: length, count: s), "allgatherv(\(length) Doubles) lengths")
        expect(
            big.enumerated().allSatisfy { rank, values in values.allSatisfy { $0 == Double(rank) } },
            "allgatherv(\(length) Doubles) values")

        func signedSquare(_ rank: Int) -> Int64 {
            let sign: Int64 = rank % 2 == 0 ? 1 : -1
            return Int64(rank * rank + 7) * sign
        }
        let squares = try comm.allgathered(signedSquare(r))
        expectEqual(squares, (0..<s).map(signedSquare), "allgather(±(r²+7))")
    }

    /// Ring exchange: send to rank+1, receive from rank-1. Even ranks send
    /// first, odd ranks receive first, so blocking sends of large (rendezvous)
    /// messages cannot deadlock.
    func ring<T: BitwiseCopyable & Equatable>(
        _ make: (Int) -> [T], tag: Int, _ what: String
    ) throws {
        let next = (r + 1) % s
        let previous = (r - 1 + s) % s
        var got: [T] = []
        if r % 2 == 0 {
            try comm.send(make(r), to: next, tag: tag)
            got = try comm.receive(T.self, from: previous, tag: tag)
        } else {
            got = try comm.receive(T.self, from: previous, tag: tag)
            try comm.send(make(r), to: next, tag: tag)
        }
        expectEqual(got, make(previous), "\(what) from rank \(previous)")
    }

    func checkPointToPoint() throws {
        try ring({ rank in (0..<(rank * 3 + 1)).map { Int64(rank * 100 + $0) } }, tag: 7, "ring [Int64] r*3+1")
        try ring({ _ in [UInt8]() }, tag: 9, "ring empty message")
        try ring({ rank in (0..<(rank + 2)).map { SelfTestRecord(a: Int32(rank), b: Double($0), c: 9) } }, tag: 5,
                 "ring records")
        // A rendezvous-size message to self would block a lone blocking send.
        if s > 1 {
            let n = length
            try ring({ rank in (0..<n).map { Double(rank) * 1e6 + Double($0) } }, tag: 8, "ring \(length) Doubles")
        }

        // Into a caller's buffer, longer than the message.
        let next = (r + 1) % s
        let previous = (r - 1 + s) % s
        try comm.send((0..<5).map { UInt64(r) << 32 | UInt64($0) }, to: next, tag: 10)
        var buffer = [UInt64](repeating: 0, count: 8)
        let received = try buffer.withUnsafeMutableBufferPointer { try comm.receive(into: $0, from: previous, tag: 10) }
        expect(received == 5, "receive(into:) got \(received) elements, expected 5")
        expectEqual(Array(buffer.prefix(5)), (0..<5).map { UInt64(previous) << 32 | UInt64($0) }, "receive(into:)")
    }

    func checkBarrier() throws {
        try comm.barrier()
        let start = Date()
        stagger()
        try comm.barrier()
        let waited = Date().timeIntervalSince(start)
        if hangCheck {
            // Nobody leaves the barrier before the slowest rank (rank S-1) arrives.
            let slowest = Double(s - 1) * 0.2
            expect(waited >= slowest * 0.9, "barrier returned after \(waited) s, before the slowest rank (\(slowest) s)")
        }
    }

    /// Every rank makes the same bad calls, so nothing waits on a peer that gave up.
    func runErrorChecks() throws {
        func expectThrow(_ call: String, _ prefix: String, _ body: () throws -> Void) {
            do {
                try body()
                failures.append("\(call): expected \(prefix), nothing thrown")
            } catch let error as DistributedError {
                expect(
                    error.call == call && error.rank == r && error.message.hasPrefix(prefix),
                    "expected \(call) \(prefix) on rank \(r), got \(error)")
                print("mpi-selftest caught: \(error)")
            } catch {
                failures.append("\(call): expected DistributedError, got \(error)")
            }
        }
        let next = (r + 1) % s
        let previous = (r - 1 + s) % s

        expectThrow("MPI_Bcast", "MPI_ERR_ROOT") {
            var x = [Float](repeating: 0, count: 4)
            try x.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: s) }
        }
        expectThrow("MPI_Gatherv", "MPI_ERR_ROOT") { _ = try comm.gathered([1, 2, 3] as [Int32], root: -1) }
        expectThrow("MPI_Send", "MPI_ERR_RANK") { try comm.send([1.0] as [Double], to: s, tag: 0) }
        expectThrow("MPI_Send", "MPI_ERR_TAG") { try comm.send([1.0] as [Double], to: next, tag: 40_000) }
        expectThrow("MPI_Allreduce", "MPI_ERR_COUNT") {
            // Never dereferenced: the count is refused first.
            var one: Float = 0
            try withUnsafeMutablePointer(to: &one) {
                try comm.allreduce(UnsafeMutableBufferPointer(start: $0, count: Int(Int32.max) + 1), .sum)
            }
        }
        // Reported by MPI itself: a 10-element message into a 4-element buffer.
        try comm.send([Int64](repeating: 42, count: 10), to: next, tag: 11)
        expectThrow("MPI_Recv", "MPI_ERR_TRUNCATE") {
            var small = [Int64](repeating: 0, count: 4)
            _ = try small.withUnsafeMutableBufferPointer { try comm.receive(into: $0, from: previous, tag: 11) }
        }
        // 5 bytes are not a whole number of Int32s (the message is consumed anyway).
        try comm.send([UInt8](repeating: 1, count: 5), to: next, tag: 12)
        expectThrow("MPI_Mrecv", "MPI_ERR_TRUNCATE") { _ = try comm.receive(Int32.self, from: previous, tag: 12) }

        // The communicator still works after all that.
        try comm.barrier()
        expect(try comm.allreduced(r, .sum) == triangle, "allreduceSum after errors")
        try comm.send([Int32(r)], to: next, tag: 13)
        expectEqual(try comm.receive(Int32.self, from: previous, tag: 13), [Int32(previous)], "send/receive after errors")
    }
}
