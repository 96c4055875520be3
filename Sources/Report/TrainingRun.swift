import Foundation

/// One run directory as the report sees it: its epochs from `metrics.jsonl` and its
/// setup from the newest checkpoint's `meta.json`, when there is one.
public struct TrainingRun: Sendable {
    /// The directory as given.
    public var directory: String
    /// Name used in legends and tables (see `RunLabels`).
    public var label: String
    public var metrics: MetricsFile
    public var metadata: RunMetadata?
    /// The `meta.json` the metadata came from.
    public var metadataPath: String?
    /// Things worth telling the reader (an unreadable checkpoint, a dropped partial line).
    public var warnings: [String] = []

    public var records: [EpochRecord] { metrics.records }

    public init(directory: String, label: String? = nil, metrics: MetricsFile, metadata: RunMetadata?,
                metadataPath: String? = nil) {
        self.directory = directory
        self.label = label ?? (directory as NSString).lastPathComponent
        self.metrics = metrics
        self.metadata = metadata
        self.metadataPath = metadataPath
    }

    /// Loads `directory/metrics.jsonl` and the newest `directory/checkpoints/*/meta.json`.
    public static func load(directory: String) throws -> TrainingRun {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError.missingMetrics(path: directory)
        }
        let metricsPath = (directory as NSString).appendingPathComponent("metrics.jsonl")
        guard FileManager.default.fileExists(atPath: metricsPath) else {
            throw ReportError.missingMetrics(path: directory)
        }
        let metrics = try MetricsFile(path: metricsPath)
        guard !metrics.records.isEmpty else { throw ReportError.noEpochs(path: metricsPath) }
        var warnings: [String] = []
        let newest = newestMetadata(in: directory, warnings: &warnings)
        var run = TrainingRun(directory: directory, metrics: metrics, metadata: newest?.meta, metadataPath: newest?.path)
        if metrics.partialLine {
            warnings.append(
                "\(metricsPath): the last line is incomplete (the run is still writing it, or stopped mid-write); "
                    + "reported up to epoch \(metrics.records.last?.epoch ?? 0)")
        }
        run.warnings = warnings
        return run
    }

    /// The `meta.json` with the highest epoch among `checkpoints/*/` (unfinished `*.tmp`
    /// checkpoints are ignored); nil when there is none. Unreadable ones become warnings.
    static func newestMetadata(in directory: String, warnings: inout [String]) -> (meta: RunMetadata, path: String)? {
        let checkpoints = (directory as NSString).appendingPathComponent("checkpoints")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: checkpoints) else { return nil }
        var best: (meta: RunMetadata, path: String, name: String)?
        for name in names.sorted() where !name.hasSuffix(".tmp") {
            let path = "\(checkpoints)/\(name)/meta.json"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                let meta = try JSONDecoder().decode(RunMetadata.self, from: data)
                if let current = best, (current.meta.epoch ?? 0) > (meta.epoch ?? 0) { continue }
                best = (meta, path, name)
            } catch {
                warnings.append("\(path): ignored, not a checkpoint meta.json: \(MetricsFile.describe(error))")
            }
        }
        return best.map { ($0.meta, $0.path) }
    }
}
