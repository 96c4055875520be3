import Foundation

/// Writers of small dataset files in the on-disk formats (raw IDX, CIFAR binary), for
/// fixtures made in temporary directories.
public enum DatasetFiles {
    /// An IDX image file: magic 0x803, count, rows, cols (big-endian), then the pixels.
    public static func idxImages(count: Int, rows: Int, cols: Int, pixels: [UInt8]) -> [UInt8] {
        bigEndian(0x803) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(cols)) + pixels
    }

    /// An IDX label file: magic 0x801, count (big-endian), then the labels.
    public static func idxLabels(_ labels: [UInt8]) -> [UInt8] {
        bigEndian(0x801) + bigEndian(UInt32(labels.count)) + labels
    }

    /// Writes the four raw IDX files of a dataset into `directory`.
    public static func writeIDX(
        into directory: String, rows: Int, cols: Int, train: (pixels: [UInt8], labels: [UInt8]),
        test: (pixels: [UInt8], labels: [UInt8])
    ) throws {
        let files: [(String, [UInt8])] = [
            ("train-images-idx3-ubyte", idxImages(count: train.labels.count, rows: rows, cols: cols, pixels: train.pixels)),
            ("train-labels-idx1-ubyte", idxLabels(train.labels)),
            ("t10k-images-idx3-ubyte", idxImages(count: test.labels.count, rows: rows, cols: cols, pixels: test.pixels)),
            ("t10k-labels-idx1-ubyte", idxLabels(test.labels)),
        ]
        for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name)) }
    }

    /// CIFAR binary records: for each entry of `labels` (1 byte for CIFAR-10, coarse and
    /// fine for CIFAR-100), the label bytes then 3,072 pixel bytes from a generator seeded
    /// with `seed` and the record's position.
    public static func cifarRecords(labels: [[UInt8]], seed: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(labels.count * ((labels.first?.count ?? 1) + 3072))
        for (i, label) in labels.enumerated() {
            bytes += label
            var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03
            for _ in 0..<3072 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56))
            }
        }
        return bytes
    }

    /// Writes a CIFAR-10 directory: `data_batch_1.bin`...`data_batch_5.bin` with `batchSizes`
    /// records (label = position % 10 unless `label` says otherwise) and `test_batch.bin`.
    public static func writeCIFAR10(
        into directory: String, batchSizes: [Int], testSize: Int, label: (Int) -> UInt8 = { UInt8($0 % 10) }
    ) throws {
        precondition(batchSizes.count == 5)
        var position = 0
        for (b, size) in batchSizes.enumerated() {
            let labels = (position..<(position + size)).map { [label($0)] }
            try Data(cifarRecords(labels: labels, seed: UInt64(b + 1)))
                .write(to: URL(fileURLWithPath: "\(directory)/data_batch_\(b + 1).bin"))
            position += size
        }
        let test = (0..<testSize).map { [UInt8($0 % 10)] }
        try Data(cifarRecords(labels: test, seed: 99)).write(to: URL(fileURLWithPath: "\(directory)/test_batch.bin"))
    }

    /// Compresses `path` into `path.gz` (keeping `path`) with the gzip tool.
    public static func gzip(_ path: String) throws {
        let tool = try ExternalTool.require("gzip", hint: "apt-get install gzip")
        let result = try Subprocess.run(tool, ["-k", "-f", "-n", path], timeout: 60)
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.stderr]) }
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
