import Training
import XCTest

/// The ownership facts: `OwnerTable` (every id owned by exactly one rank) and `IDTotals`
/// (the count/sum/xor fingerprint of the per-epoch conservation check).
final class OwnerTableTests: XCTestCase {
    func testBuildsTheTableOfDisjointShards() throws {
        XCTAssertEqual(try OwnerTable.build(idsByRank: [[3, 0], [1], [2, 4]], count: 5), [0, 1, 2, 0, 2])
        XCTAssertNil(OwnerTable.problem(in: [0, 1, 2, 0, 2], ranks: 3))
    }

    func testRefusesDuplicatedMissingAndOutOfRangeIDs() {
        let cases: [([[Int32]], String)] = [
            ([[0, 1], [1, 2]], "instance 1 is held by ranks 0 and 1"),
            ([[0], [2]], "instance 1 is owned by no rank"),
            ([[0, 1], [2, 3]], "rank 1 holds instance 3, outside 0..<3"),
            ([[0, -1], [1, 2]], "rank 0 holds instance -1, outside 0..<3"),
        ]
        for (ids, problem) in cases {
            XCTAssertThrowsError(try OwnerTable.build(idsByRank: ids, count: 3), "\(ids)") { error in
                XCTAssertEqual(error as? TrainingError, .conservation(problem))
            }
        }
        XCTAssertEqual(OwnerTable.problem(in: [0, 2, 1], ranks: 2), "instance 1 is owned by rank 2, of 2 rank(s)")
    }

    func testIDTotalsOfShardsCombineToTheWhole() {
        let all: [Int32] = Array(0..<1000)
        let whole = IDTotals(ids: all)
        let a = IDTotals(ids: all.filter { $0 % 3 == 0 }), b = IDTotals(ids: all.filter { $0 % 3 != 0 })
        XCTAssertEqual(IDTotals(count: a.count + b.count, sum: a.sum + b.sum, xor: a.xor ^ b.xor), whole)
        // One id swapped for a duplicate of another keeps the count but not the fingerprint.
        XCTAssertNotEqual(IDTotals(ids: Array(all.dropLast()) + [0]), whole)
        XCTAssertEqual(whole.description, "1000 instances (id sum 499500, xor 0)")
    }
}
