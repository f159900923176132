/* par/common.h — export macro and version of libparallelizer.
 *
 * Every public symbol of the library is declared with PAR_EXTERN; the
 * library is built with -fvisibility=hidden, so whatever is not marked is
 * private to it.
 */
#ifndef PAR_COMMON_H
#define PAR_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PAR_EXTERN __attribute__((visibility("default")))
#else
#define PAR_EXTERN
#endif

#define PAR_VERSION_MAJOR 0
#define PAR_VERSION_MINOR 1
#define PAR_VERSION_PATCH 0
#define PAR_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The version string of the library actually linked, e.g. "0.1.0". */
PAR_EXTERN const char *par_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* PAR_COMMON_H */
