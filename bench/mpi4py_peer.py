"""mpi4py_peer.py -- the mpi4py peer of the MPI benchmarks.

Run with the system Python, which has Debian's python3-mpi4py and
python3-numpy (a python3 earlier on PATH may not):

    mpirun -n 2 /usr/bin/python3 bench/mpi4py_peer.py

Rank 0 prints one line per benchmark, "name<TAB>microseconds per
operation", the median of several repetitions, with the names that
bench/mpi_raw.c uses for the same operations. The object benchmarks use
mpi4py's lowercase API (pickled objects), as a Python user would; the 8 MB
broadcast and the barrier use the uppercase buffer API.
"""

import sys
import time

import numpy as np
from mpi4py import MPI

REPS = 7

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
size = comm.Get_size()


def bench(name, iters, run):
    """Time ITERS calls of RUN, REPS times, and print rank 0's median."""
    run()  # warm up
    times = []
    for _ in range(REPS):
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            run()
        times.append((time.perf_counter() - t0) / iters)
    times.sort()
    if rank == 0:
        print("%s\t%.3f" % (name, times[REPS // 2] * 1e6))
        sys.stdout.flush()


def barrier():
    comm.Barrier()


small = {"id": 42, "name": "ping", "values": [1.0, 2.0, 3.0]}


def pingpong():
    if rank == 0:
        comm.send(small, dest=1)
        comm.recv(source=1)
    elif rank == 1:
        comm.send(comm.recv(source=0), dest=0)


vec = np.arange(1 << 20, dtype=np.float64)  # 8 MB


def bcast_vec():
    comm.Bcast(vec, root=0)


data = list(range(100000))


def chunks(seq):
    """Split SEQ into SIZE chunks, the larger ones first."""
    q, r = divmod(len(seq), size)
    out, at = [], 0
    for i in range(size):
        n = q + (1 if i < r else 0)
        out.append(seq[at:at + n])
        at += n
    return out


def scatter_list():
    comm.scatter(chunks(data) if rank == 0 else None, root=0)


def bcast_list():
    comm.bcast(data if rank == 0 else None, root=0)


def gather_int():
    comm.gather(rank, root=0)


bench("barrier", 20000, barrier)
if size >= 2:
    bench("pingpong", 20000, pingpong)
bench("bcast_8mb_f64", 20, bcast_vec)
bench("scatter_100k", 100, scatter_list)
bench("bcast_100k", 100, bcast_list)
bench("gather_int", 20000, gather_int)
