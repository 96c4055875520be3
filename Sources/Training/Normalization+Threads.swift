import Datasets
import NN

extension Normalization {
    /// `fill` with the batch's instances split over `compute`'s threads, each thread
    /// normalizing (and augmenting) its own run of instances into its rows of `output`:
    /// every instance is written alone, so the bits are those of one thread. The first
    /// layer then finds half of its input in each core's cache, instead of all of it in the
    /// cache of the core that filled it while the other waited.
    package func fill(
        from dataset: Dataset, slots: UnsafeBufferPointer<Int>, output: UnsafeMutablePointer<Float>,
        labels: UnsafeMutablePointer<Int32>, augmentation: (Augmentation, AugmentationKey)?, compute: Compute
    ) {
        let size = dataset.sampleSize
        compute.chunks(slots.count, minimumPerChunk: Self.instancesPerThread) { range in
            fill(
                from: dataset, slots: UnsafeBufferPointer(rebasing: slots[range]), output: output + range.lowerBound * size,
                labels: labels + range.lowerBound, augmentation: augmentation)
        }
    }

    /// Instances per thread below which a batch is filled on one thread (an instance of
    /// 784 pixels takes about a microsecond; a hand-over, a few).
    static let instancesPerThread = 8
}
