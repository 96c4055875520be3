import Foundation
import RunFormat

/// One run directory as the report sees it: its epochs from `metrics.jsonl` and its
/// setup from the newest valid checkpoint's `meta.json`, when there is one.
public struct TrainingRun: Sendable {
    /// The directory as given.
    public var directory: String
    /// Name used in legends and tables (see `RunLabels`).
    public var label: String
    public var metrics: MetricsFile
    public var metadata: CheckpointMeta<SettingsRecord>?
    /// The `meta.json` the metadata came from.
    public var metadataPath: String?
    /// Things worth telling the reader (an invalid checkpoint skipped, a dropped partial line).
    public var warnings: [String] = []

    public var records: [EpochMetrics] { metrics.records }

    public init(directory: String, label: String? = nil, metrics: MetricsFile, metadata: CheckpointMeta<SettingsRecord>?,
                metadataPath: String? = nil) {
        self.directory = directory
        self.label = label ?? (directory as NSString).lastPathComponent
        self.metrics = metrics
        self.metadata = metadata
        self.metadataPath = metadataPath
    }

    /// Loads `directory/metrics.jsonl` and the newest valid checkpoint's meta.json (by the
    /// same rule as a resume, `CheckpointStore.newestValid`, without reading the tensor files).
    public static func load(directory: String) throws -> TrainingRun {
        let run = RunDirectory(directory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RunFormatError.missingMetrics(path: directory)
        }
        let metrics = try MetricsFile(path: run.metrics)
        guard !metrics.records.isEmpty else { throw ReportError.noEpochs(path: run.metrics) }
        var warnings: [String] = []
        var newest: VerifiedCheckpoint<SettingsRecord>?
        if !run.checkpointStore.checkpointNames().isEmpty {
            do {
                let found = try run.checkpointStore.newestValid(SettingsRecord.self, readingFiles: false)
                newest = found.checkpoint
                warnings += found.warnings
            } catch {
                warnings.append("\(error)")
            }
        }
        var result = TrainingRun(
            directory: directory, metrics: metrics, metadata: newest?.meta,
            metadataPath: newest.map { ($0.directory as NSString).appendingPathComponent(CheckpointStore.metaFile) })
        if metrics.partialLine {
            warnings.append(
                "\(run.metrics): the last line is incomplete (the run is still writing it, or stopped mid-write); "
                    + "reported up to epoch \(metrics.records.last?.epoch ?? 0)")
        }
        result.warnings = warnings
        return result
    }
}
