#ifndef IES_CCRYPTO_SHIM_H
#define IES_CCRYPTO_SHIM_H
// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 checksums of checkpoint files.
#include <stddef.h>
#include <openssl/evp.h>

// One-shot SHA-256 of `length` bytes into `digest` (32 bytes). Returns 1 on success.
static inline int ccrypto_sha256(const void *data, size_t length, unsigned char *digest) {
    unsigned int size = 0;
    return EVP_Digest(data, length, digest, &size, EVP_sha256(), NULL) == 1 && size == 32;
}
#endif
