import Foundation

/// Turns a finished (or running) run's metrics.jsonl into a TensorBoard event file.
public enum TensorBoardExport {
    /// Writes every recorded epoch of `run` into a new event file in `directory`, after
    /// removing earlier `events.out.tfevents.*` files there (a re-export replaces the
    /// old one instead of doubling every point). Returns the file written.
    ///
    /// metrics.jsonl has no timestamps, so wall times are reconstructed: the file's
    /// modification time is taken as the end of the last epoch and each earlier epoch
    /// ends that many epoch durations (`seconds`) before it.
    @discardableResult
    public static func write(run: TrainingRun, to directory: String) throws -> String {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for name in names where name.hasPrefix("events.out.tfevents.") {
                try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            }
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: run.metrics.path)
        let end = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? Date().timeIntervalSince1970
        let durations = run.records.map { max($0.seconds, 0) }
        var remaining = durations.reduce(0, +)
        let writer = try TensorBoardWriter(directory: directory, wallTime: end - remaining)
        for (record, duration) in zip(run.records, durations) {
            remaining -= duration
            try writer.add(scalars: TensorBoardScalars.scalars(for: record), step: record.epoch, wallTime: end - remaining)
        }
        try writer.close()
        return writer.path
    }
}
