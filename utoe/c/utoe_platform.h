/* utoe_platform.h - what a platform (host, bare-metal Cortex-M, RISC-V, RIOT)
 * provides to the harness. Each platform is one C file in platform/. */
#ifndef UTOE_PLATFORM_H
#define UTOE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Called once before anything else. */
void utoe_platform_init(void);
/* Write len bytes to the console (stdout, UART, semihosting, RIOT stdio). */
void utoe_platform_write(const char *buf, size_t len);
/* Block until the evaluator may start (RIOT waits for a key); may return at once. */
void utoe_platform_wait_start(void);
/* A monotonic tick counter and its frequency in Hz. */
uint64_t utoe_platform_ticks(void);
uint64_t utoe_platform_tick_hz(void);
/* Stack painting: paint the unused stack, later report the deepest byte used
 * since painting (bytes below the caller's frame). 0 if not supported. */
void utoe_platform_stack_paint(void);
size_t utoe_platform_stack_peak(void);
/* End of the program (exit code on hosts and emulators). */
void utoe_platform_exit(int code);

#endif /* UTOE_PLATFORM_H */
