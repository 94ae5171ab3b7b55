/* platform/cortex-m.c - bare-metal ARMv6-M, ARMv7-M and ARMv7E-M (with or
 * without FPU), as run on a QEMU stand-in machine; with baremetal.c.
 *
 * - startup: the vector table (placed at the flash origin by the generated
 *   link.ld) and a reset handler that initialises memory, enables the FPU
 *   where the build uses one, and calls the harness;
 * - console and exit: Arm semihosting (bkpt 0xab), which QEMU serves with
 *   -semihosting;
 * - time: SysTick on the processor clock, extended to 64 bits by counting its
 *   wraps (UTOE_TICK_HZ is that clock, from the board file).
 * Faults print the exception number and end the run with status 3. */
#include "baremetal.h"

#ifndef UTOE_TICK_HZ
#error "UTOE_TICK_HZ (the SysTick clock in Hz) must be defined by the build"
#endif

int utoe_eval_main(void);

#define REG(addr) (*(volatile uint32_t *)(addr))
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_ICSR REG(0xE000ED04u)
#define SCB_CPACR REG(0xE000ED88u)
#define ICSR_PENDSTSET (1u << 26)
#define SYSTICK_MAX 0x00FFFFFFu

int utoe_semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

uint8_t *utoe_stack_pointer(void) {
    uint8_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* ---- time ---- */

static volatile uint32_t systick_wraps;

void utoe_systick_handler(void) { systick_wraps++; }

void utoe_platform_init(void) {
    utoe_baremetal_console_open();
    SYST_RVR = SYSTICK_MAX;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt on wrap, enabled */
}

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

/* ---- startup ---- */

__attribute__((noreturn)) void utoe_fault_handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    utoe_baremetal_put("\nutoe: fault exception=");
    utoe_baremetal_put_hex(ipsr & 0x1FFu);
    utoe_baremetal_put(" (Cortex-M exception number)\n");
    utoe_platform_exit(3);
    for (;;) {
    }
}

__attribute__((noreturn)) void utoe_reset_handler(void) {
    utoe_baremetal_start();
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    utoe_platform_exit(utoe_eval_main());
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
