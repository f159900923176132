/* par/error.h — error codes of libparallelizer.
 *
 * Every function that can fail returns an int: PAR_OK (0) on success or one
 * of the negative codes below. Results are written through out-parameters
 * only on success. The codes come from one X-macro list, which also gives
 * par_strerror and par_err_name, so the three can never disagree.
 */
#ifndef PAR_ERROR_H
#define PAR_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, description). The description is what par_strerror returns. */
#define PAR_ERRNO_MAP(X)                                                    \
  X(EINVAL, "invalid argument")                                             \
  X(ENOMEM, "out of memory")                                                \
  X(ERANK, "rank out of range for this communicator")                       \
  X(ETYPE, "unsupported element type for this operation")                   \
  X(ESIZE, "buffer sizes differ between processes")                         \
  X(EMISMATCH, "processes are in different collective operations")          \
  X(EPEER, "a peer process died or left the group")                         \
  X(ETIMEDOUT, "operation timed out")                                       \
  X(EINTR, "operation interrupted")                                         \
  X(EABORTED, "the process group was aborted")                              \
  X(ESYS, "system call failed")                                             \
  X(EMPI, "MPI call failed")                                                \
  X(EMALFORMED, "malformed message")                                        \
  X(ENOTSUP, "operation not supported by this backend")                     \
  X(ENOENT, "no such entry")                                                \
  X(EEXIST, "entry already exists")                                         \
  X(EFORK, "cannot fork worker processes")                                  \
  X(ETOOBIG, "message too large")                                          \
  X(EDEADLOCK, "every process of the group waits on another")

typedef enum par_errno {
  PAR_OK = 0,
#define PAR__ERRNO_ENUM(name, desc) PAR_##name,
  PAR__ERRNO_FIRST = -1000,
  PAR_ERRNO_MAP(PAR__ERRNO_ENUM)
#undef PAR__ERRNO_ENUM
  PAR__ERRNO_END
} par_errno;

/* A static English description of CODE ("unknown error" for a code that is
 * not in the list). Never NULL. */
PAR_EXTERN const char *par_strerror(int code);

/* The symbolic name of CODE without the PAR_ prefix, e.g. "EMISMATCH".
 * Never NULL. */
PAR_EXTERN const char *par_err_name(int code);

#ifdef __cplusplus
}
#endif

#endif /* PAR_ERROR_H */
