/* How far apart two CPUs are, as a training step on both sees it (issue 23, the mlp's step
 * on 2 threads): the round trip of one cache line between threads pinned to CPU A and B,
 * and the time to read (and to overwrite) a buffer of K KiB that the other CPU wrote last,
 * against one this CPU wrote itself. A dense layer's activations cross between the threads
 * at that rate: each thread writes its columns of the output, and the next layer reads all.
 *   cc -O3 -mavx2 -pthread scripts/experiments/core-to-core.c -o /tmp/core-to-core
 *   /tmp/core-to-core [A B [KiB...]]        (default: 0 1, 16 64 200 1024) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic int turn;
static float *buffer;
static size_t floats;
static int other_cpu, rounds;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) { fprintf(stderr, "cannot pin to CPU %d\n", cpu); exit(2); }
}

/* The other CPU: answers pings (turn 1 -> 0), then writes the buffer whenever turn is 2. */
static void *partner(void *unused) {
    (void)unused;
    pin(other_cpu);
    for (int i = 0; i < rounds; i++) { while (atomic_load(&turn) != 1) {} atomic_store(&turn, 0); }
    for (;;) {
        int t;
        while ((t = atomic_load(&turn)) != 2 && t != 4) {}
        if (t == 4) return NULL;
        for (size_t j = 0; j < floats; j++) buffer[j] += 1.0f;
        atomic_store(&turn, 3);
    }
}

static float sum(void) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t j = 0; j < floats; j += 4) { s0 += buffer[j]; s1 += buffer[j + 1]; s2 += buffer[j + 2]; s3 += buffer[j + 3]; }
    return s0 + s1 + s2 + s3;
}

int main(int argc, char **argv) {
    int cpu = argc > 2 ? atoi(argv[1]) : 0;
    other_cpu = argc > 2 ? atoi(argv[2]) : 1;
    int sizes[16] = {16, 64, 200, 1024}, count = 4;
    if (argc > 3) { count = 0; for (int i = 3; i < argc && count < 16; i++) sizes[count++] = atoi(argv[i]); }
    rounds = 200000;
    buffer = aligned_alloc(64, 1024 * 1024 * 4);
    memset(buffer, 0, 1024 * 1024 * 4);
    pthread_t thread;
    pthread_create(&thread, NULL, partner, NULL);
    pin(cpu);
    double start = now();
    for (int i = 0; i < rounds; i++) { atomic_store(&turn, 1); while (atomic_load(&turn) != 0) {} }
    printf("CPU %d <-> %d: one cache line's round trip %.0f ns\n", cpu, other_cpu, (now() - start) / rounds);
    float sink = 0;
    for (int s = 0; s < count; s++) {
        floats = (size_t)sizes[s] * 256;
        if (floats > 1024 * 1024) floats = 1024 * 1024;
        double remote = 0, remoteWrite = 0, local = 0;
        int reps = 400;
        for (int r = 0; r < reps; r++) {           /* read what the other CPU wrote */
            atomic_store(&turn, 2);
            while (atomic_load(&turn) != 3) {}
            double t = now(); sink += sum(); remote += now() - t;
            atomic_store(&turn, 2);                /* overwrite what the other CPU wrote */
            while (atomic_load(&turn) != 3) {}
            t = now(); memset(buffer, 0, floats * 4); remoteWrite += now() - t;
        }
        for (int r = 0; r < reps; r++) {           /* the same from this CPU's own cache */
            memset(buffer, 0, floats * 4);
            double t = now(); sink += sum(); local += now() - t;
        }
        printf("%5d KiB: read %.1f us from the other CPU's cache (%.1f GB/s), %.1f us from its own; "
               "overwriting the other's %.1f us\n", sizes[s], remote / reps / 1e3,
               floats * 4 / (remote / reps), local / reps / 1e3, remoteWrite / reps / 1e3);
    }
    atomic_store(&turn, 4);
    pthread_join(thread, NULL);
    return sink == 12345.0f;
}
