/* platform/cortex-m.c - bare-metal ARMv6-M, ARMv7-M and ARMv7E-M (with or
 * without FPU), as run on a QEMU stand-in machine.
 *
 * - startup: the vector table (placed at the flash origin by the generated
 *   link.ld), a reset handler that copies .data, zeroes .bss, enables the FPU
 *   where the build uses one, and calls the harness;
 * - console and exit: Arm semihosting (SYS_OPEN ":tt", SYS_WRITE,
 *   SYS_EXIT_EXTENDED), which QEMU serves with -semihosting;
 * - time: SysTick on the processor clock, extended to 64 bits by counting its
 *   wraps (UTOE_TICK_HZ is that clock, from the board file);
 * - stack: painted between the end of .bss and the stack pointer; the peak is
 *   the whole stack's depth from its top, since on a microcontroller that is
 *   the RAM it costs.
 * Faults print a line and end the run with a non-zero status. */
#include <stdint.h>

#include "utoe_platform.h"

#ifndef UTOE_TICK_HZ
#error "UTOE_TICK_HZ (the SysTick clock in Hz) must be defined by the build"
#endif

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint8_t __stack_top[], __stack_limit[];

int utoe_eval_main(void);
void utoe_reset_handler(void);

#define REG(addr) (*(volatile uint32_t *)(addr))
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_ICSR REG(0xE000ED04u)
#define SCB_CPACR REG(0xE000ED88u)
#define ICSR_PENDSTSET (1u << 26)
#define SYSTICK_MAX 0x00FFFFFFu

#define PAINT_WORD 0xA5A5A5A5u

/* ---- semihosting ---- */

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int console = -1;

void utoe_platform_write(const char *buf, size_t len) {
    if (console < 0 || len == 0) {
        return;
    }
    uint32_t args[3] = {(uint32_t)console, (uint32_t)buf, (uint32_t)len};
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

/* ---- time ---- */

static volatile uint32_t systick_wraps;

void utoe_systick_handler(void) { systick_wraps++; }

void utoe_platform_init(void) {
    static const char tt[] = ":tt";
    uint32_t args[3] = {(uint32_t)tt, 4u /* "w" */, sizeof tt - 1u};
    console = semihost(SYS_OPEN, args);
    SYST_RVR = SYSTICK_MAX;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt on wrap, enabled */
}

void utoe_platform_wait_start(void) {}

uint64_t utoe_platform_ticks(void) {
    uint32_t wraps, cvr;
    __asm__ volatile("cpsid i" ::: "memory");
    cvr = SYST_CVR;
    wraps = systick_wraps;
    if (SCB_ICSR & ICSR_PENDSTSET) { /* wrapped, handler not run yet */
        cvr = SYST_CVR;
        wraps++;
    }
    __asm__ volatile("cpsie i" ::: "memory");
    return (uint64_t)wraps * (SYSTICK_MAX + 1u) + (SYSTICK_MAX - cvr);
}

uint64_t utoe_platform_tick_hz(void) { return UTOE_TICK_HZ; }

/* ---- stack painting ---- */

static inline uint8_t *stack_pointer(void) {
    uint8_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void utoe_platform_stack_paint(void) {
    /* Paint below this frame's stack pointer, leaving 64 bytes for the loop. */
    uint32_t *p = (uint32_t *)(((uintptr_t)__stack_limit + 3u) & ~3u);
    uint32_t *end = (uint32_t *)(((uintptr_t)stack_pointer() - 64u) & ~3u);
    while (p < end) {
        *p++ = PAINT_WORD;
    }
}

size_t utoe_platform_stack_peak(void) {
    const uint32_t *p = (const uint32_t *)(((uintptr_t)__stack_limit + 3u) & ~3u);
    const uint32_t *top = (const uint32_t *)__stack_top;
    while (p < top && *p == PAINT_WORD) {
        p++;
    }
    return (size_t)((const uint8_t *)top - (const uint8_t *)p);
}

/* ---- startup ---- */

__attribute__((noreturn)) void utoe_fault_handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    put("\nutoe: fault exception=");
    put_hex(ipsr & 0x1FFu);
    put(" (Cortex-M exception number)\n");
    utoe_platform_exit(3);
    for (;;) {
    }
}

__attribute__((noreturn)) void utoe_reset_handler(void) {
    for (uint32_t *src = __data_load, *dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    int rc = utoe_eval_main();
    utoe_platform_exit(rc);
    for (;;) {
    }
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vectors[16] = {
    (vector_t)__stack_top, /* initial stack pointer */
    utoe_reset_handler,
    utoe_fault_handler, /* NMI */
    utoe_fault_handler, /* HardFault */
    utoe_fault_handler, /* MemManage */
    utoe_fault_handler, /* BusFault */
    utoe_fault_handler, /* UsageFault */
    0, 0, 0, 0,
    utoe_fault_handler, /* SVCall */
    utoe_fault_handler, /* DebugMonitor */
    0,
    utoe_fault_handler, /* PendSV */
    utoe_systick_handler,
};
