// Two ranks on one host: the cost of summing a cnn-sized gradient buffer (421,000 floats)
// after a backward pass has just written it, by MPI's allreduce (blocking, and libnbc's
// non-blocking one with its default or the algorithm in OMPI_MCA_coll_libnbc_iallreduce_algorithm)
// against the ranks adding it themselves in an MPI shared-memory window (each half, written
// into both copies, between barriers: what `SharedPairSum` does). Before every sum each rank
// walks 32 MB to push the buffer out of its caches as a step's other work would, then writes it.
//   mpicc -O2 -march=native -o /tmp/pair-sum scripts/experiments/pair-sum.c
//   mpirun --oversubscribe --bind-to none -np 2 /tmp/pair-sum
//   OMPI_MCA_coll_libnbc_iallreduce_algorithm=1 mpirun -x OMPI_MCA_coll_libnbc_iallreduce_algorithm \
//       --oversubscribe --bind-to none -np 2 /tmp/pair-sum     # libnbc's ring, as ies sets it
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT 421000
#define ROUNDS 300

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0) fprintf(stderr, "run with -np 2 on one host\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    float *shared, *peer;
    MPI_Win window;
    MPI_Win_allocate_shared(COUNT * sizeof(float), sizeof(float), MPI_INFO_NULL, MPI_COMM_WORLD, &shared, &window);
    MPI_Aint bytes;
    int unit;
    MPI_Win_shared_query(window, 1 - rank, &bytes, &unit, &peer);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, window);
    float *private = aligned_alloc(64, COUNT * sizeof(float));
    size_t evictCount = 8u << 20;
    float *evict = calloc(evictCount, sizeof(float));
    const char *names[] = {"MPI_Allreduce", "MPI_Iallreduce + MPI_Wait", "shared window, each rank half"};
    for (int mode = 0; mode < 3; mode++) {
        double summing = 0, arriving = 0;
        for (int round = 0; round < ROUNDS; round++) {
            float *g = mode == 2 ? shared : private;
            for (size_t i = 0; i < evictCount; i += 16) evict[i] += 1;
            for (int i = 0; i < COUNT; i++) g[i] = (float)(i % 97) * 0.01f + rank;
            double t0 = MPI_Wtime();
            MPI_Barrier(MPI_COMM_WORLD);  // both arrive: what is left is the sum itself
            double t1 = MPI_Wtime();
            arriving += t1 - t0;
            if (mode == 0) {
                MPI_Allreduce(MPI_IN_PLACE, g, COUNT, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            } else if (mode == 1) {
                MPI_Request request;
                MPI_Iallreduce(MPI_IN_PLACE, g, COUNT, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
                MPI_Wait(&request, MPI_STATUS_IGNORE);
            } else {
                MPI_Win_sync(window);
                float *first = rank == 0 ? shared : peer, *second = rank == 0 ? peer : shared;
                int lo = rank == 0 ? 0 : COUNT / 2, hi = rank == 0 ? COUNT / 2 : COUNT;
                for (int i = lo; i < hi; i++) {
                    float s = first[i] + second[i];
                    first[i] = s;
                    second[i] = s;
                }
                MPI_Win_sync(window);
                MPI_Barrier(MPI_COMM_WORLD);
                MPI_Win_sync(window);
            }
            summing += MPI_Wtime() - t1;
        }
        if (rank == 0) printf("%-32s %.3f ms per sum\n", names[mode], summing / ROUNDS * 1e3);
    }
    MPI_Win_unlock_all(window);
    MPI_Win_free(&window);
    MPI_Finalize();
    return 0;
}
