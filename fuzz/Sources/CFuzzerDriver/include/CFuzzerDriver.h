// libFuzzer's driver, which `-sanitize=fuzzer` links in. SwiftPM names an executable's entry
// point `<target>_main` and aliases `main` to it, so libFuzzer's own `main` is never used:
// the Swift entry point calls the driver itself.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
