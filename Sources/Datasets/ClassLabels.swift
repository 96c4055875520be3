/// THE label rule of the formats that declare no class count (IDX, NumPy): the training
/// labels define the classes, the test labels must fall among them.
enum ClassLabels {
    /// More classes than this is a corrupt or mistaken label file, not a classification task.
    static let maxClasses = 100_000

    /// The class count of a training label file: the largest label plus one, provided every
    /// label is in 0..<`maxClasses` and every class below the largest has at least one
    /// instance. A label far beyond the others (one 200 among 0...9) would otherwise
    /// silently make a 201-class model.
    static func trainingClasses(_ labels: [Int], path: String) throws -> Int {
        try check(labels, below: maxClasses, path: path)
        var counts = [Int](repeating: 0, count: (labels.max() ?? 0) + 1)
        for label in labels { counts[label] += 1 }
        let classes = counts.count
        let empty = (0..<classes).filter { counts[$0] == 0 }
        guard empty.isEmpty else {
            let largest = classes - 1
            throw DatasetError.classesWithoutInstances(
                file: path, largestLabel: largest, index: labels.firstIndex(of: largest) ?? 0, empty: empty)
        }
        return classes
    }

    /// Every label in 0..<`classes`, else the first that is not, with its index.
    static func check(_ labels: [Int], below classes: Int, path: String) throws {
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw DatasetError.labelOutOfRange(file: path, index: bad, value: labels[bad], validRange: 0..<classes)
        }
    }
}
