/* platform/baremetal.c - what the bare-metal platforms (cortex-m.c, riscv.c)
 * share: the console and exit over semihosting, fault messages, and stack
 * painting between the end of .bss and the stack pointer. Each of them
 * provides the two architecture-specific pieces below. */
#include "baremetal.h"

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define PAINT_WORD 0xA5A5A5A5u

static int console = -1;

void utoe_baremetal_console_open(void) {
    static const char tt[] = ":tt";
    uint32_t args[3] = {(uint32_t)(uintptr_t)tt, 4u /* "w" */, sizeof tt - 1u};
    console = utoe_semihost(SYS_OPEN, args);
}

void utoe_platform_write(const char *buf, size_t len) {
    if (console < 0) { /* a fault before utoe_platform_init() still gets told */
        utoe_baremetal_console_open();
    }
    if (console < 0 || len == 0) {
        return;
    }
    uint32_t args[3] = {(uint32_t)console, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    utoe_semihost(SYS_WRITE, args);
}

void utoe_platform_exit(int code) {
    uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    utoe_semihost(SYS_EXIT_EXTENDED, args);
    for (;;) {
    }
}

void utoe_baremetal_put(const char *s) {
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    utoe_platform_write(s, n);
}

void utoe_baremetal_put_hex(uint32_t v) {
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
    }
    buf[10] = '\0';
    utoe_baremetal_put(buf);
}

void utoe_platform_wait_start(void) {}

void utoe_platform_stack_paint(void) {
    /* Paint below this frame's stack pointer, leaving 64 bytes for the loop. */
    uint32_t *p = (uint32_t *)(((uintptr_t)__stack_limit + 3u) & ~(uintptr_t)3u);
    uint32_t *end = (uint32_t *)(((uintptr_t)utoe_stack_pointer() - 64u) & ~(uintptr_t)3u);
    while (p < end) {
        *p++ = PAINT_WORD;
    }
}

/* The whole stack's depth from its top: on a microcontroller that is the RAM
 * it costs. */
size_t utoe_platform_stack_peak(void) {
    const uint32_t *p = (const uint32_t *)(((uintptr_t)__stack_limit + 3u) & ~(uintptr_t)3u);
    const uint32_t *top = (const uint32_t *)__stack_top;
    while (p < top && *p == PAINT_WORD) {
        p++;
    }
    return (size_t)((const uint8_t *)top - (const uint8_t *)p);
}

void utoe_baremetal_start(void) {
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0;
    }
}
