// libFuzzer's driver, which `-sanitize=fuzzer` links in (compiler-rt's FuzzerInterface.h).
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer on `callback` with the command line `*argc`/`*argv`, as libFuzzer's own main does.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
