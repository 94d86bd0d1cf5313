// FUZZ_CHECK: the invariant assertion of the fuzz targets. A failed check prints the
// condition and aborts, which libFuzzer records as a crash with the input saved.
// Independent of NDEBUG (the fuzz build may define it).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
