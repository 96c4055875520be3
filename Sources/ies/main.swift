import RunFormat
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

// Every line reaches a redirected stdout at once (Slurm and nohup logs, `tail -f`), not
// when a block buffer fills or the run ends.
setvbuf(stdout, nil, _IOLBF, 0)

// `--resume` takes an optional PATH, which ArgumentParser options cannot express:
// a bare `--resume` (last, or followed by another flag) gets an empty value, which
// Train reads as "the run in --run-dir".
var arguments = Array(CommandLine.arguments.dropFirst())
if let index = arguments.firstIndex(of: "--resume"),
   index == arguments.count - 1 || arguments[index + 1].hasPrefix("-") {
    arguments.insert(Train.resumeFromRunDirectory, at: index + 1)
}
IES.main(arguments)
