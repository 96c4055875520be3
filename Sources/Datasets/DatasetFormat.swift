/// On-disk dataset layouts the loader recognizes.
public enum DatasetFormat: String, Sendable {
    /// IDX unsigned-byte files as distributed for MNIST / Fashion-MNIST, gzip or raw.
    case idx
    /// CIFAR-10 binary version: `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`.
    case cifar10
    /// CIFAR-100 binary version: `train.bin`, `test.bin`.
    case cifar100
    /// NumPy `.npy` files written with `np.save`: `train_images.npy`, `train_labels.npy`,
    /// `test_images.npy`, `test_labels.npy` (uint8 images N first, integer labels).
    case numpy
}
