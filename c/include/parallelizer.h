/* parallelizer.h — the C API of Parallelizer.
 *
 * libparallelizer moves data between the processes of a group: serial,
 * forked workers on one machine, or MPI ranks. It has no Guile dependency;
 * the Guile extension is built on top of it. Include this header and link
 * with `pkg-config --libs parallelizer`.
 *
 *   par/error.h   error codes, par_strerror
 *   par/types.h   element types of typed buffers, reduction operators
 *   par/comm.h    communicators: point to point and collectives
 *   par/mp.h      forked groups of worker processes over shared memory
 *   par/shm.h     shared memory: arenas of objects that processes map
 *   par/mpi.h     communicators over Open MPI (includes <mpi.h>; optional)
 */
#ifndef PARALLELIZER_H
#define PARALLELIZER_H

#include "par/common.h"
#include "par/error.h"
#include "par/types.h"
#include "par/comm.h"
#include "par/mp.h"
#include "par/shm.h"

#endif /* PARALLELIZER_H */
