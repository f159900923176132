/* kernel-cache.c — what compile-kernel needs from C: the hash that names a
 * compiled kernel in the cache, and where par/kernel.h is.
 *
 * The cache key is a SHA-256 (FIPS 180-4) digest: a kernel loaded from
 * the cache runs as native code in the process, so two different sources
 * must never meet under one name, which a short non-cryptographic hash
 * could not promise.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glue.h"

/* --- SHA-256 ------------------------------------------------------------- */

typedef struct sha256 {
  uint32_t h[8];
  unsigned char block[64];
  size_t used;     /* bytes in BLOCK */
  uint64_t length; /* bytes hashed so far */
} sha256;

static const uint32_t k256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(sha256 *s, const unsigned char *p)
{
  uint32_t w[64], a, b, c, d, e, f, g, h;

  for (int i = 0; i < 16; i++) {
    w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
           | (uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
  }
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
  e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25))
                  + ((e & f) ^ (~e & g)) + k256[i] + w[i];
    uint32_t t2 =
        (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

    h = g, g = f, f = e, e = d + t1;
    d = c, c = b, b = a, a = t1 + t2;
  }
  s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
  s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void
sha256_init(sha256 *s)
{
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};

  memcpy(s->h, h0, sizeof h0);
  s->used = 0;
  s->length = 0;
}

static void
sha256_update(sha256 *s, const void *data, size_t len)
{
  const unsigned char *p = data;

  s->length += len;
  while (len > 0) {
    size_t n = 64 - s->used < len ? 64 - s->used : len;

    memcpy(s->block + s->used, p, n);
    s->used += n;
    p += n;
    len -= n;
    if (s->used == 64) {
      sha256_block(s, s->block);
      s->used = 0;
    }
  }
}

static void
sha256_final(sha256 *s, unsigned char digest[32])
{
  uint64_t bits = s->length * 8;
  unsigned char pad = 0x80, zero = 0, len[8];

  sha256_update(s, &pad, 1);
  while (s->used != 56) {
    sha256_update(s, &zero, 1);
  }
  for (int i = 0; i < 8; i++) {
    len[i] = (unsigned char) (bits >> (56 - 8 * i));
  }
  sha256_update(s, len, 8);
  for (int i = 0; i < 8; i++) {
    digest[4 * i] = (unsigned char) (s->h[i] >> 24);
    digest[4 * i + 1] = (unsigned char) (s->h[i] >> 16);
    digest[4 * i + 2] = (unsigned char) (s->h[i] >> 8);
    digest[4 * i + 3] = (unsigned char) s->h[i];
  }
}

/* (%sha256 BYTEVECTOR) -> the SHA-256 digest of BYTEVECTOR as 64
 * lower-case hexadecimal digits. */
static SCM
prim_sha256(SCM bv)
#define FUNC_NAME "compile-kernel"
{
  static const char hex[] = "0123456789abcdef";
  unsigned char digest[32];
  char text[65];
  sha256 s;

  SCM_VALIDATE_BYTEVECTOR(1, bv);
  sha256_init(&s);
  sha256_update(&s, SCM_BYTEVECTOR_CONTENTS(bv), SCM_BYTEVECTOR_LENGTH(bv));
  scm_remember_upto_here_1(bv);
  sha256_final(&s, digest);
  for (int i = 0; i < 32; i++) {
    text[2 * i] = hex[digest[i] >> 4];
    text[2 * i + 1] = hex[digest[i] & 15];
  }
  text[64] = '\0';
  return scm_from_latin1_string(text);
}
#undef FUNC_NAME

/* --- Where par/kernel.h is ----------------------------------------------- */

/* The include directory of an installation, made by the Makefile from
 * INCLUDEDIR. */
#ifndef PAR_INCLUDEDIR
#define PAR_INCLUDEDIR "/usr/local/include"
#endif

static bool
has_kernel_header(const char *dir)
{
  char path[PATH_MAX];

  return (size_t) snprintf(path, sizeof path, "%s/par/kernel.h", dir)
             < sizeof path
         && access(path, R_OK) == 0;
}

/* (%kernel-include-directories) -> the directories, in order of
 * preference, in which the par/kernel.h that matches this extension may
 * be: that of an uninstalled build when this extension is the one built in
 * a source tree (found from its own file, as $ORIGIN is), then the
 * installation's include directory. Only those that hold par/kernel.h are
 * listed. */
static SCM
prim_kernel_include_directories(void)
{
  SCM dirs = SCM_EOL;
  Dl_info info;

  if (has_kernel_header(PAR_INCLUDEDIR)) {
    dirs = scm_cons(scm_from_utf8_string(PAR_INCLUDEDIR), dirs);
  }
  /* An uninstalled build: SOURCE/build/lib/libguile-parallelizer.so, with
   * the headers in SOURCE/c/include. */
  if (dladdr((void *) prim_kernel_include_directories, &info) != 0
      && info.dli_fname != NULL) {
    char dir[PATH_MAX], *slash;

    if (realpath(info.dli_fname, dir) != NULL
        && (slash = strrchr(dir, '/')) != NULL
        && (size_t) (slash - dir) + sizeof "/../../c/include" <= sizeof dir) {
      strcpy(slash, "/../../c/include");
      if (has_kernel_header(dir)) {
        char *canonical = realpath(dir, NULL);

        if (canonical != NULL) {
          dirs = scm_cons(scm_from_utf8_string(canonical), dirs);
          free(canonical);
        }
      }
    }
  }
  return dirs;
}

void
par_scm_init_kernel_cache(void)
{
  scm_c_define_gsubr("%sha256", 1, 0, 0, prim_sha256);
  scm_c_define_gsubr("%kernel-include-directories", 0, 0, 0,
                     prim_kernel_include_directories);
  scm_c_define("%kernel-abi-version", scm_from_int(PAR_KERNEL_ABI_VERSION));
}
