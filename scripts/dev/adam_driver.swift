// Dev-only driver for adam_torch_check.py: runs NN's `Adam` (compiled together with
// Sources/NN/Optim/Optimizer.swift and Adam.swift, no package build) over inputs in
// raw float32 files and writes the parameters after every step.
//
// Usage: adam_driver N STEPS SCALE WEIGHT_DECAY DECOUPLED(0|1) DIR
//   DIR/params.f32 (N), DIR/grads.f32 (STEPS * N), DIR/lrs.f32 (STEPS) -> DIR/swift.f32 (STEPS * N)
import Foundation

func readFloats(_ path: String, count: Int) -> [Float] {
    let data = FileManager.default.contents(atPath: path)!
    precondition(data.count == count * 4, "\(path): \(data.count) bytes for \(count) floats")
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

let arguments = CommandLine.arguments
let n = Int(arguments[1])!, steps = Int(arguments[2])!
let scale = Float(arguments[3])!, weightDecay = Float(arguments[4])!, decoupled = arguments[5] == "1"
let directory = arguments[6]
var parameters = readFloats(directory + "/params.f32", count: n)
let gradients = readFloats(directory + "/grads.f32", count: steps * n)
let rates = readFloats(directory + "/lrs.f32", count: steps)

let adam = Adam(parameterCount: n, weightDecay: weightDecay, decoupledWeightDecay: decoupled)
var history: [Float] = []
for t in 0..<steps {
    parameters.withUnsafeMutableBufferPointer { p in
        gradients.withUnsafeBufferPointer { g in
            adam.step(
                parameters: p, gradients: UnsafeBufferPointer(rebasing: g[(t * n)..<((t + 1) * n)]),
                gradientScale: scale, learningRate: rates[t])
        }
    }
    history += parameters
}
_ = FileManager.default.createFile(
    atPath: directory + "/swift.f32", contents: history.withUnsafeBytes { Data($0) })
