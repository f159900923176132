/* error.c — descriptions and names of the error codes. */
#include "par/error.h"

const char *
par_strerror(int code)
{
  switch (code) {
  case PAR_OK:
    return "success";
#define PAR__ERRNO_DESC(name, desc)                                         \
  case PAR_##name:                                                          \
    return desc;
    PAR_ERRNO_MAP(PAR__ERRNO_DESC)
#undef PAR__ERRNO_DESC
  default:
    return "unknown error";
  }
}

const char *
par_err_name(int code)
{
  switch (code) {
  case PAR_OK:
    return "OK";
#define PAR__ERRNO_NAME(name, desc)                                         \
  case PAR_##name:                                                          \
    return #name;
    PAR_ERRNO_MAP(PAR__ERRNO_NAME)
#undef PAR__ERRNO_NAME
  default:
    return "UNKNOWN";
  }
}

const char *
par_version_string(void)
{
  return PAR_VERSION_STRING;
}
