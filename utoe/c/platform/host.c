/* platform/host.c - the POSIX host: CLOCK_MONOTONIC in ns, stdout, and stack
 * painting below the harness's frame. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "utoe_platform.h"

int utoe_eval_main(void);

/* How deep below the painting caller's frame we paint and look: far more than
 * any model's inference needs, far less than the default 8 MiB stack. */
#define PAINT_BYTES (512u * 1024u)
#define PAINT_BYTE 0xA5u

static volatile uint8_t *paint_top; /* the caller's frame: stack use counts from here */

void utoe_platform_init(void) {}

void utoe_platform_write(const char *buf, size_t len) {
    while (len) {
        ssize_t n = write(1, buf, len);
        if (n <= 0) {
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void utoe_platform_wait_start(void) {}

uint64_t utoe_platform_ticks(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t utoe_platform_tick_hz(void) { return 1000000000u; }

/* noinline + a volatile local array: the region below the caller's frame is
 * touched through this frame, which the compiler cannot elide. */
__attribute__((noinline)) static void paint_region(void) {
    volatile uint8_t probe[PAINT_BYTES];
    for (size_t i = 0; i < PAINT_BYTES; i++) {
        probe[i] = PAINT_BYTE;
    }
    __asm__ volatile("" ::"r"(probe) : "memory");
}

__attribute__((noinline)) void utoe_platform_stack_paint(void) {
    paint_top = (volatile uint8_t *)__builtin_frame_address(0);
    paint_region();
}

/* Reads the painted region through a frame of the same shape, from its
 * deepest byte up, without writing to it. */
__attribute__((noinline)) static size_t scan_region(volatile uint8_t *top) {
    volatile uint8_t probe[PAINT_BYTES];
    volatile uint8_t *low = (volatile uint8_t *)&probe[0];
    /* bytes above the array belong to this very call's frame: not scanned */
    for (volatile uint8_t *p = low; p < low + PAINT_BYTES; p++) {
        if (*p != PAINT_BYTE) {
            return (size_t)(top - p);
        }
    }
    return 0;
}

__attribute__((noinline)) size_t utoe_platform_stack_peak(void) {
    volatile uint8_t *top = (volatile uint8_t *)__builtin_frame_address(0);
    (void)paint_top;
    return scan_region(top);
}

void utoe_platform_exit(int code) { exit(code); }

int main(void) {
    int rc = utoe_eval_main();
    utoe_platform_exit(rc);
    return rc;
}
