/* platform/riot.c - the harness on RIOT (riot_app/): any board RIOT supports,
 * native64 included.
 *
 * The evaluation runs in a thread of its own on a static stack, so its bounds
 * are known without RIOT's debug options: the stack is painted below the
 * harness's frame and its peak read back, as on the other platforms. That
 * stack is part of .bss, so the RAM figure already holds it (measure.py does
 * not add the peak on top for RIOT builds).
 *
 * Time is ztimer's microsecond clock, widened to 64 bits. The console is
 * RIOT's stdio (UART, USB CDC, or the terminal on native64). The firmware is
 * already running when a runner opens the console, so it announces itself and
 * waits for 'start <run id>', acknowledges it, evaluates, and waits again
 * (docs/protocol.md, "Live consoles"). */
#include <stdint.h>
#include <string.h>

#include "stdio_base.h"
#include "thread.h"
#include "ztimer.h"

#include "utoe_config.h"
#include "utoe_platform.h"

int utoe_eval_main(void);

#ifndef UTOE_STACK_BYTES
#define UTOE_STACK_BYTES 4096
#endif
#define PAINT_BYTE 0xA5u
/* Bytes left unpainted just below the painting frame (its callee's spill). */
#define PAINT_GAP 64u
#define RUN_ID_MAX 16u

static char eval_stack[THREAD_STACKSIZE_DEFAULT + UTOE_STACK_BYTES] __attribute__((aligned(8)));
static volatile uint8_t *paint_top;

static uint32_t last_us;
static uint64_t high_us;

void utoe_platform_init(void) {
    last_us = ztimer_now(ZTIMER_USEC);
    high_us = 0;
}

void utoe_platform_write(const char *buf, size_t len) {
    while (len) {
        ssize_t n = stdio_write(buf, len);
        if (n <= 0) {
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void put(const char *s) { utoe_platform_write(s, strlen(s)); }

static int valid_run_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > RUN_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            return 0;
        }
    }
    return 1;
}

void utoe_platform_wait_start(void) {
    char line[48];
    size_t n = 0;
    put("utoe: ready board=" UTOE_CONFIG_BOARD " model=" UTOE_CONFIG_MODEL "\n");
    for (;;) {
        char c;
        if (stdio_read(&c, 1) != 1) {
            continue;
        }
        if (c != '\n' && c != '\r') {
            if (n < sizeof(line) - 1) {
                line[n++] = c;
            } else {
                n = sizeof(line); /* too long: not a start line; drop until its end */
            }
            continue;
        }
        if (n < sizeof(line)) {
            line[n] = '\0';
            if (strncmp(line, "start ", 6) == 0 && valid_run_id(line + 6)) {
                put("utoe: start run=");
                put(line + 6);
                put("\n");
                return;
            }
        }
        n = 0;
    }
}

uint64_t utoe_platform_ticks(void) {
    uint32_t now = ztimer_now(ZTIMER_USEC);
    high_us += (uint32_t)(now - last_us); /* wraps every 71 minutes; called far more often */
    last_us = now;
    return high_us;
}

uint64_t utoe_platform_tick_hz(void) { return 1000000u; }

/* The painted region is [eval_stack, a local's address - PAINT_GAP), computed
 * as integers: pointer arithmetic off the local would point outside its
 * object, which GCC rightly rejects (-Warray-bounds, an error in RIOT's
 * -Werror builds), and comparing pointers into different objects is undefined. */
__attribute__((noinline)) void utoe_platform_stack_paint(void) {
    volatile uint8_t here = 0;
    uintptr_t start = (uintptr_t)eval_stack;
    uintptr_t limit = (uintptr_t)&here;
    paint_top = (volatile uint8_t *)__builtin_frame_address(0);
    if (limit < start + PAINT_GAP || limit > start + sizeof(eval_stack)) {
        return; /* not running on eval_stack: nothing to paint */
    }
    size_t n = (size_t)(limit - PAINT_GAP - start);
    volatile uint8_t *p = (volatile uint8_t *)eval_stack;
    for (size_t i = 0; i < n; i++) {
        p[i] = PAINT_BYTE;
    }
}

__attribute__((noinline)) size_t utoe_platform_stack_peak(void) {
    const volatile uint8_t *p = (const volatile uint8_t *)eval_stack;
    while (p < paint_top && *p == PAINT_BYTE) {
        p++;
    }
    return (size_t)(paint_top - p);
}

void utoe_platform_exit(int code) { (void)code; }

static void *eval_thread(void *arg) {
    (void)arg;
    utoe_platform_init();
    for (;;) {
        utoe_eval_main(); /* waits for a start, evaluates, returns */
    }
    return NULL;
}

int main(void) {
    thread_create(eval_stack, sizeof(eval_stack), THREAD_PRIORITY_MAIN - 1, 0, eval_thread, NULL, "utoe");
    /* main must not return: while its thread exits there is no active thread,
     * and on native64 an interrupt (the console's SIGIO) in that moment is
     * dropped, leaving the harness waiting for a start it never sees. */
    for (;;) {
        thread_sleep();
    }
    return 0;
}
