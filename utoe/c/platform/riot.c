/* platform/riot.c - the harness on RIOT (riot_app/): any board RIOT supports,
 * native64 included.
 *
 * The evaluation runs in RIOT's main thread: no second thread and no second
 * stack. riot_app/Makefile sizes main's stack (THREAD_STACKSIZE_MAIN =
 * UTOE_STACK_BYTES, utoe/riot.py) on the boards; on native64 RIOT's default
 * stays. Its bounds are known without RIOT's debug options: thread_create()
 * puts the thread's control block at the top of the stack array, so the array
 * starts at most alignof(thread_t) above the control block's end minus the
 * array's size. Below the harness's frame the stack is painted and its peak
 * read back, as on the other platforms, from the stack's top (what the stack
 * must hold); the peak also counts what RIOT's boot (auto_init, the boot
 * message) left on the stack before main ran: the array is .bss, zero until
 * then. That stack is part of .bss, so the RAM figure
 * already holds it (measure.py does not add the peak on top for RIOT builds).
 *
 * Time is ztimer's microsecond clock, widened to 64 bits. The console is
 * RIOT's stdio (UART, USB CDC, or the terminal on native64). The firmware is
 * already running when a runner opens the console, so it announces itself and
 * waits for 'start <run id>', acknowledges it, evaluates, and waits again
 * (docs/protocol.md, "Live consoles"). */
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "stdio_base.h"
#include "thread.h"
#include "ztimer.h"

#include "utoe_config.h"
#include "utoe_platform.h"

int utoe_eval_main(void);

#define PAINT_BYTE 0xA5u
/* Bytes left unpainted just below the painting frame (its callee's spill). */
#define PAINT_GAP 64u
#define RUN_ID_MAX 16u

static volatile uint8_t *paint_top;
/* The lowest address of main's stack array that is surely inside it, and the
 * lowest byte RIOT's boot wrote below main's frame (0: none found). */
static uintptr_t stack_low;
static uintptr_t stack_end;
static uintptr_t boot_low;

/* main's stack bounds, and how deep RIOT's boot went: called first thing in
 * main, before anything of the harness touches the stack. */
static __attribute__((noinline)) void find_stack(void) {
    volatile uint8_t here = 0;
    uintptr_t end = (uintptr_t)thread_get_active() + sizeof(thread_t);
    uintptr_t limit = (uintptr_t)&here;
    stack_low = end + alignof(thread_t) - (uintptr_t)THREAD_STACKSIZE_MAIN;
    if (limit < stack_low + PAINT_GAP || limit > end) {
        stack_low = 0; /* not on the stack thread_create() made: nothing to paint */
        return;
    }
    stack_end = end;
    const volatile uint8_t *p = (const volatile uint8_t *)stack_low;
    while ((uintptr_t)p < limit - PAINT_GAP && *p == 0) {
        p++;
    }
    boot_low = (uintptr_t)p < limit - PAINT_GAP ? (uintptr_t)p : 0;
}

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

/* The painted region is [stack_low, a local's address - PAINT_GAP), computed
 * as integers: pointer arithmetic off the local would point outside its
 * object, which GCC rightly rejects (-Warray-bounds, an error in RIOT's
 * -Werror builds), and comparing pointers into different objects is undefined. */
__attribute__((noinline)) void utoe_platform_stack_paint(void) {
    volatile uint8_t here = 0;
    uintptr_t limit = (uintptr_t)&here;
    paint_top = (volatile uint8_t *)__builtin_frame_address(0);
    if (!stack_low || limit < stack_low + PAINT_GAP || limit > stack_end) {
        paint_top = NULL;
        return; /* not running on main's stack: nothing to paint */
    }
    size_t n = (size_t)(limit - PAINT_GAP - stack_low);
    volatile uint8_t *p = (volatile uint8_t *)stack_low;
    for (size_t i = 0; i < n; i++) {
        p[i] = PAINT_BYTE;
    }
}

/* The bytes of main's stack used: from its top (the thread's control block
 * included) down to the deepest byte written, by the evaluation (painted
 * bytes overwritten) or by RIOT's boot before main. The figure to compare
 * with the stack's size (THREAD_STACKSIZE_MAIN). */
__attribute__((noinline)) size_t utoe_platform_stack_peak(void) {
    if (!paint_top) {
        return 0;
    }
    const volatile uint8_t *p = (const volatile uint8_t *)stack_low;
    while (p < paint_top && *p == PAINT_BYTE) {
        p++;
    }
    uintptr_t low = (uintptr_t)p;
    if (boot_low && boot_low < low) {
        low = boot_low;
    }
    return (size_t)(stack_end - low);
}

void utoe_platform_exit(int code) { (void)code; }

int main(void) {
    find_stack();
    utoe_platform_init();
    for (;;) {
        utoe_eval_main(); /* waits for a start, evaluates, returns */
    }
    return 0;
}
