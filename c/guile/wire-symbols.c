/* wire-symbols.c — symbol names cached both ways for the wire codec.
 *
 * Symbols recur in data (alist keys, record fields, tags), so their UTF-8
 * names are cached both ways: the usual symbol then costs neither a
 * conversion to UTF-8 when sent nor a symbol-table lookup when received.
 * The caches belong to the first thread that uses the codec; any other
 * thread takes the long way, so that no lock is needed. Every cached
 * symbol is also held in CACHED_SYMBOLS, so that an entry never outlives
 * its symbol and never matches a new object at the same address.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "wire-internal.h"

#define SYMBOL_CACHE_SIZE 256
#define SYMBOL_CACHE_NAME 30

struct symbol_entry {
  SCM symbol;
  uint8_t len;
  char name[SYMBOL_CACHE_NAME];
};

static struct symbol_entry symbols_by_address[SYMBOL_CACHE_SIZE];
static struct symbol_entry symbols_by_name[SYMBOL_CACHE_SIZE];
static SCM cached_symbols; /* a vector of 2 * SYMBOL_CACHE_SIZE */
static pthread_t cache_owner;
static int cache_claimed;

static bool
owns_symbol_cache(void)
{
  if (!cache_claimed) {
    cache_owner = pthread_self();
    cache_claimed = 1;
    return true;
  }
  return pthread_equal(cache_owner, pthread_self());
}

static size_t
address_slot(SCM symbol)
{
  return (SCM_UNPACK(symbol) >> 4) % SYMBOL_CACHE_SIZE;
}

static size_t
hash_name(const char *name, size_t n)
{
  uint32_t h = 2166136261u;

  for (size_t i = 0; i < n; i++) {
    h = (h ^ (uint8_t) name[i]) * 16777619u;
  }
  return h % SYMBOL_CACHE_SIZE;
}

static void
remember_symbol(struct symbol_entry *entry, size_t slot, SCM symbol,
                const char *name, size_t n)
{
  scm_c_vector_set_x(cached_symbols, slot, symbol);
  entry->symbol = symbol;
  entry->len = (uint8_t) n;
  memcpy(entry->name, name, n);
}

bool
par__wire_symbol_cached(SCM symbol, const char **name, size_t *len)
{
  struct symbol_entry *entry = &symbols_by_address[address_slot(symbol)];

  if (!owns_symbol_cache() || !scm_is_eq(entry->symbol, symbol)) {
    return false;
  }
  *name = entry->name;
  *len = entry->len;
  return true;
}

void
par__wire_symbol_remember(SCM symbol, const char *name, size_t len)
{
  size_t slot = address_slot(symbol);

  /* Only names short enough for a one-byte text head are kept, which is
   * what lets the encoder write the head itself. */
  if (len < 24 && owns_symbol_cache()) {
    remember_symbol(&symbols_by_address[slot], slot, symbol, name, len);
  }
}

SCM
par__wire_symbol_named(const char *name, size_t n)
{
  size_t slot;
  struct symbol_entry *entry;
  SCM symbol;

  if (n == 0) {
    /* Guile's hash of a UTF-8 name reads one character even when there
     * is none: not past the end of the message, but from this string. */
    name = "";
  }
  if (n > SYMBOL_CACHE_NAME || !owns_symbol_cache()) {
    return scm_from_utf8_symboln(name, n);
  }
  slot = hash_name(name, n);
  entry = &symbols_by_name[slot];
  if (entry->len == n && SCM_UNPACK(entry->symbol) != 0
      && memcmp(entry->name, name, n) == 0) {
    return entry->symbol;
  }
  symbol = scm_from_utf8_symboln(name, n);
  remember_symbol(entry, SYMBOL_CACHE_SIZE + slot, symbol, name, n);
  return symbol;
}

void
par__wire_init_symbols(void)
{
  cached_symbols = scm_permanent_object(
      scm_c_make_vector(2 * SYMBOL_CACHE_SIZE, SCM_BOOL_F));
}
