/* platform/riscv.c - bare-metal RV32 (machine mode), as run on a QEMU
 * stand-in machine (sifive_e for the HiFive1 rev B, virt for the others);
 * with baremetal.c.
 *
 * - startup: _start (placed first in flash by the generated link.ld) sets gp,
 *   sp, tp and the trap vector, initialises memory and calls the harness;
 * - console and exit: RISC-V semihosting (the Arm calls behind the
 *   slli/ebreak/srai marker), which QEMU serves with -semihosting;
 * - time: the mcycle/mcycleh counter, at the core clock on silicon and one
 *   count per instruction under QEMU's -icount shift=0 (UTOE_TICK_HZ, from
 *   the board file, says which).
 * A trap prints mcause/mepc and ends the run with status 3. */
#include "baremetal.h"

#ifndef UTOE_TICK_HZ
#error "UTOE_TICK_HZ (the mcycle frequency in Hz) must be defined by the build"
#endif

int utoe_eval_main(void);
void utoe_reset(void);
void utoe_trap(void);

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

/* The marker must be three uncompressed instructions in one page. */
__attribute__((noinline, aligned(16))) int utoe_semihost(int op, const void *arg) {
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

uint8_t *utoe_stack_pointer(void) {
    uint8_t *sp;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    return sp;
}

void utoe_platform_init(void) { utoe_baremetal_console_open(); }

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

__attribute__((interrupt("machine"), aligned(4))) void utoe_trap(void) {
    uint32_t cause, epc;
    __asm__ volatile("csrr %0, mcause" : "=r"(cause));
    __asm__ volatile("csrr %0, mepc" : "=r"(epc));
    utoe_baremetal_put("\nutoe: fault mcause=");
    utoe_baremetal_put_hex(cause);
    utoe_baremetal_put(" mepc=");
    utoe_baremetal_put_hex(epc);
    utoe_baremetal_put("\n");
    utoe_platform_exit(3);
}

void utoe_reset(void) {
    utoe_baremetal_start();
    utoe_platform_exit(utoe_eval_main());
}
