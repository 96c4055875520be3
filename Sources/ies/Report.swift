import ArgumentParser
import Foundation
import Report

/// `ies report`: what IES did in one or more runs, as one self-contained HTML page,
/// and/or as TensorBoard event files.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report of one or more runs (the first is the baseline), or export them to TensorBoard.",
        discussion: """
            Reads RUN_DIR/metrics.jsonl and, when present, the newest RUN_DIR/checkpoints/*/meta.json of each \
            run. The report is one HTML file with inline SVG charts and nothing loaded from elsewhere: a summary \
            table (with speedup and accuracy difference against the first run when several are given), test \
            accuracy and loss, trained/mastered/returned instances, backprop saved, time per epoch, rebalancing \
            between ranks, mastered share per class and the learning rate. A run still in progress is reported up \
            to its last complete epoch.

            With --tensorboard DIR, each run's metrics become an event file in DIR/<run name> (earlier event \
            files there are replaced); view them with `tensorboard --logdir DIR`. The HTML report is then written \
            only if --output is also given.
            """)

    @Argument(help: ArgumentHelp("Run directories written by `ies train`; the first is the baseline.", valueName: "run-dir"))
    var runDirectories: [String]

    @Option(name: [.short, .long], help: ArgumentHelp(
        "The HTML file to write. (default: report.html in the current directory)", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("Export each run's metrics to TensorBoard event files under DIR/<run name>.", valueName: "dir"))
    var tensorboard: String?

    func run() throws {
        let report = try HTMLReport.load(directories: runDirectories)
        for warning in report.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if let tensorboard {
            for run in report.runs {
                let directory = (tensorboard as NSString).appendingPathComponent(run.label)
                let path = try TensorBoardExport.write(run: run, to: directory)
                print("\(run.label): \(run.records.count) epochs -> \(path)")
            }
        }
        if output != nil || tensorboard == nil {
            let path = output ?? "report.html"
            try report.write(to: path)
            print("wrote \(path) (\(report.runs.count) run\(report.runs.count == 1 ? "" : "s"))")
        }
    }
}
