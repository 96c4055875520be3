/// The rank owning each global instance id (index = id), as a checkpoint stores it, and
/// THE check of the invariant it records: every id owned by exactly one rank of the run.
public enum OwnerTable {
    /// The table of `count` instances from the ids each rank holds (`idsByRank[r]`, rank r's);
    /// throws `TrainingError.conservation` naming an id that is out of range, held by two
    /// ranks, or held by none.
    public static func build(idsByRank: [[Int32]], count: Int) throws -> [Int32] {
        var owners = [Int32](repeating: -1, count: count)
        for (rank, ids) in idsByRank.enumerated() {
            for id in ids {
                guard id >= 0, Int(id) < count else {
                    throw TrainingError.conservation("rank \(rank) holds instance \(id), outside 0..<\(count)")
                }
                guard owners[Int(id)] == -1 else {
                    throw TrainingError.conservation("instance \(id) is held by ranks \(owners[Int(id)]) and \(rank)")
                }
                owners[Int(id)] = Int32(rank)
            }
        }
        if let problem = problem(in: owners, ranks: idsByRank.count) { throw TrainingError.conservation(problem) }
        return owners
    }

    /// What is wrong with `owners` as the table of a run on `ranks` ranks (an entry that is
    /// not a rank in 0..<ranks, such as an id owned by no rank), or nil when nothing is.
    public static func problem(in owners: [Int32], ranks: Int) -> String? {
        guard let id = owners.firstIndex(where: { $0 < 0 || Int($0) >= ranks }) else { return nil }
        return owners[id] < 0
            ? "instance \(id) is owned by no rank"
            : "instance \(id) is owned by rank \(owners[id]), of \(ranks) rank(s)"
    }
}
