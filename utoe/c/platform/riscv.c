/* platform/riscv.c - bare-metal RV32 (machine mode), as run on a QEMU
 * stand-in machine (sifive_e for the HiFive1 rev B, virt for the others).
 *
 * - startup: _start (placed first in flash by the generated link.ld) sets gp,
 *   sp and the trap vector, copies .data, zeroes .bss and calls the harness;
 * - console and exit: RISC-V semihosting (the Arm calls behind the
 *   slli/ebreak/srai marker), which QEMU serves with -semihosting;
 * - time: the mcycle/mcycleh counter, at the core clock on silicon and one
 *   count per instruction under QEMU's -icount shift=0 (UTOE_TICK_HZ, from
 *   the board file, says which);
 * - stack: painted between the end of .bss and the stack pointer; the peak is
 *   the whole stack's depth from its top.
 * A trap prints mcause/mepc and ends the run with a non-zero status. */
#include <stdint.h>

#include "utoe_platform.h"

#ifndef UTOE_TICK_HZ
#error "UTOE_TICK_HZ (the mcycle frequency in Hz) must be defined by the build"
#endif

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint8_t __stack_top[], __stack_limit[];

int utoe_eval_main(void);
void utoe_reset(void);
void utoe_trap(void);

#define PAINT_WORD 0xA5A5A5A5u

__asm__(".section .text.start, \"ax\", @progbits\n"
        ".globl _start\n"
        "_start:\n"
        ".option push\n"
        ".option norelax\n"
        "    la gp, __global_pointer$\n"
        ".option pop\n"
        "    la sp, __stack_top\n"
        "    la tp, __tls_base\n" /* the C library's errno is thread-local */
        "    la t0, utoe_trap\n"
        "    csrw mtvec, t0\n"
        "    call utoe_reset\n"
        "1:  j 1b\n"
        ".text\n");

/* ---- semihosting ---- */

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* The marker must be three uncompressed instructions in one page. */
__attribute__((noinline, aligned(16))) static int semihost(int op, const void *arg) {
    register int a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = arg;
    __asm__ volatile(".option push\n"
                     ".option norvc\n"
                     "slli x0, x0, 0x1f\n"
                     "ebreak\n"
                     "srai x0, x0, 7\n"
                     ".option pop\n"
                     : "+r"(a0)
                     : "r"(a1)
                     : "memory");
    return a0;
}

static int console = -1;

void utoe_platform_write(const char *buf, size_t len) {
    if (console < 0 || len == 0) {
        return;
    }
    uint32_t args[3] = {(uint32_t)console, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    semihost(SYS_WRITE, args);
}

void utoe_platform_exit(int code) {
    uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, args);
    for (;;) {
        __asm__ volatile("wfi");
    }
}

static void put(const char *s) {
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    utoe_platform_write(s, n);
}

static void put_hex(uint32_t v) {
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
    }
    buf[10] = '\0';
    put(buf);
}

void utoe_platform_init(void) {
    static const char tt[] = ":tt";
    uint32_t args[3] = {(uint32_t)(uintptr_t)tt, 4u /* "w" */, sizeof tt - 1u};
    console = semihost(SYS_OPEN, args);
}

void utoe_platform_wait_start(void) {}

/* ---- time ---- */

uint64_t utoe_platform_ticks(void) {
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("csrr %0, mcycleh" : "=r"(hi));
        __asm__ volatile("csrr %0, mcycle" : "=r"(lo));
        __asm__ volatile("csrr %0, mcycleh" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

uint64_t utoe_platform_tick_hz(void) { return UTOE_TICK_HZ; }

/* ---- stack painting ---- */

static inline uint8_t *stack_pointer(void) {
    uint8_t *sp;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    return sp;
}

void utoe_platform_stack_paint(void) {
    uint32_t *p = (uint32_t *)(((uintptr_t)__stack_limit + 3u) & ~(uintptr_t)3u);
    uint32_t *end = (uint32_t *)(((uintptr_t)stack_pointer() - 64u) & ~(uintptr_t)3u);
    while (p < end) {
        *p++ = PAINT_WORD;
    }
}

size_t utoe_platform_stack_peak(void) {
    const uint32_t *p = (const uint32_t *)(((uintptr_t)__stack_limit + 3u) & ~(uintptr_t)3u);
    const uint32_t *top = (const uint32_t *)__stack_top;
    while (p < top && *p == PAINT_WORD) {
        p++;
    }
    return (size_t)((const uint8_t *)top - (const uint8_t *)p);
}

/* ---- startup ---- */

__attribute__((interrupt("machine"), aligned(4))) void utoe_trap(void) {
    uint32_t cause, epc;
    __asm__ volatile("csrr %0, mcause" : "=r"(cause));
    __asm__ volatile("csrr %0, mepc" : "=r"(epc));
    put("\nutoe: fault mcause=");
    put_hex(cause);
    put(" mepc=");
    put_hex(epc);
    put("\n");
    utoe_platform_exit(3);
}

void utoe_reset(void) {
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0;
    }
    int rc = utoe_eval_main();
    utoe_platform_exit(rc);
}
