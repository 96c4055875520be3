import Foundation

/// Softmax cross-entropy per instance, PyTorch `F.cross_entropy(reduction="none")`.
///
/// For logits z [B, C] and labels y [B]:
///   loss[n] = logsumexp(z[n, :]) - z[n, y[n]]
///   dloss[n] / dz[n, c] = softmax(z[n, :])[c] - [c == y[n]]
/// The gradient is that of the SUM of the losses; the trainer divides by the
/// number of instances after the (distributed) sum.
public enum SoftmaxCrossEntropy {
    /// Writes per-instance losses, and the gradient when `gradient` is non-nil.
    /// Returns the number of correct argmax predictions (ties go to the lowest class).
    @discardableResult
    public static func forward(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
        losses: UnsafeMutablePointer<Float>, gradient: UnsafeMutablePointer<Float>?
    ) -> Int {
        var correct = 0
        for n in 0..<batch {
            let z = logits + n * classes
            var maxValue = z[0]
            var argmax = 0
            for c in 1..<classes where z[c] > maxValue {
                maxValue = z[c]
                argmax = c
            }
            var sum: Float = 0
            for c in 0..<classes { sum += expf(z[c] - maxValue) }
            let label = Int(labels[n])
            // (max - z[label]) + log(sum) keeps precision when the logits are large.
            losses[n] = (maxValue - z[label]) + logf(sum)
            if argmax == label { correct += 1 }
            if let gradient {
                let g = gradient + n * classes
                let inverse = 1 / sum
                for c in 0..<classes { g[c] = expf(z[c] - maxValue) * inverse }
                g[label] -= 1
            }
        }
        return correct
    }
}
