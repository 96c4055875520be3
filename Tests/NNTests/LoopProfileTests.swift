import Foundation
import NN
import NNTestSupport
import XCTest

/// `LoopProfile` (`ies bench --loops`): the loops that ran on several threads, by call site,
/// with lower bounds that hold on any machine (each piece spins for a known time).
final class LoopProfileTests: XCTestCase {
    /// Busy for at least `seconds` on the calling thread.
    private static func spin(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {}
    }

    func testRecordsEachParallelLoopBySiteWithItsPiecesAndTheSerialTimeBetween() {
        withDeadline("LoopProfileTests") { Self.recordsEachParallelLoop() }
    }

    private static func recordsEachParallelLoop() {
        let compute = Compute(threads: 2)
        let profile = LoopProfile()
        compute.chunks(2) { _ in Self.spin(0.001) }  // before recording: not counted
        profile.record {
            for _ in 0..<3 {
                compute.chunks(2) { range in Self.spin(range.lowerBound == 0 ? 0.002 : 0.004) }
            }
            Self.spin(0.003)
            compute.indexedChunks(2) { _, _ in Self.spin(0.002) }
            compute.chunks(1) { _ in Self.spin(0.001) }  // one piece: serial, not a loop
        }
        compute.chunks(2) { _ in Self.spin(0.001) }  // after recording: not counted
        let sites = profile.sites
        XCTAssertEqual(sites.count, 2, "\(sites.map(\.site))")
        for entry in sites { XCTAssertTrue(entry.site.hasPrefix("NNTests/LoopProfileTests.swift:"), entry.site) }
        let (first, second) = (sites[0].totals, sites[1].totals)
        XCTAssertEqual(first.calls, 3)
        XCTAssertEqual(second.calls, 1)
        // Piece 0 runs on the caller; piece 1, on the worker, spins 4 ms in the first loop.
        XCTAssertGreaterThanOrEqual(first.callerPiece, 3 * 0.002)
        XCTAssertGreaterThanOrEqual(first.slowestOtherPiece, 3 * 0.004)
        XCTAssertGreaterThanOrEqual(first.callerPiece + first.callerWait, 3 * 0.004)
        XCTAssertGreaterThanOrEqual(second.serialBefore, 0.003)
        XCTAssertGreaterThanOrEqual(second.callerPiece, 0.002)
        XCTAssertGreaterThanOrEqual(second.slowestOtherPiece, 0.002)
        for totals in [first, second] {
            XCTAssertGreaterThanOrEqual(totals.pickUp, 0)
            XCTAssertGreaterThanOrEqual(totals.callerWait, 0)
            XCTAssertLessThan(totals.callerPiece + totals.callerWait + totals.serialBefore, 10, "seconds, not nanoseconds")
        }
    }

    /// A profile records one run at a time; after `record` returns, loops are not timed.
    func testNothingIsRecordedOutsideRecord() {
        withDeadline("LoopProfileTests") { Self.nothingRecordedOutsideRecord() }
    }

    private static func nothingRecordedOutsideRecord() {
        let compute = Compute(threads: 2)
        let profile = LoopProfile()
        profile.record {}
        compute.chunks(2) { _ in Self.spin(0.001) }
        XCTAssertTrue(profile.sites.isEmpty)
    }
}
