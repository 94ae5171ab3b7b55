/* Loops whose instruction classes, memory accesses and cache misses are known
 * exactly, for utoe's QEMU plugin (tests/test_timing_loops.py). Thumb: the
 * ARMv6-M part runs as a Cortex-M0+ build (on the mps2-an385 machine); with
 * ARMV7M defined (a Cortex-M4 build) the Thumb-2 loops (caches, instruction
 * mix) run too. Every utoe_* function is an owner: its counts are its own.
 * The caller passes the sizes (N_CHAIN, N_BRANCH, N_FLASH, K_SMALL, K_BIG). */
    .syntax unified
    .thumb

    .section .vectors, "a"
    .word 0x20001000
    .word utoe_main

    .text
    .thumb_func
    .global utoe_main
    .type utoe_main, %function
utoe_main:
#ifdef ARMV7M
    ldr r0, =0xE000ED88         /* CPACR: the FPU on (cp10, cp11 full access) */
    ldr r1, =0x00F00000
    str r1, [r0]
    dsb
    isb
#endif
    ldr r0, =0x20000100
    bl utoe_chain
    ldr r0, =N_BRANCH
    bl utoe_branches
    ldr r0, =N_FLASH
    ldr r1, =table
    bl utoe_flash_read
    ldr r1, =table
    bl utoe_lru
#ifdef ARMV7M
    movs r0, #2
    bl utoe_small
    movs r0, #2
    bl utoe_big
    bl utoe_mix
#endif
    movs r0, #0x20              /* SYS_EXIT_EXTENDED (ADP_Stopped_ApplicationExit, 0) */
    ldr r1, =exit_block
    bkpt 0xab
1:  b 1b
    .ltorg
    .size utoe_main, . - utoe_main

/* r0: a RAM word's address. The word points to itself, then N_CHAIN loads
 * each use the previous one's result as their address: N_CHAIN - 1
 * load-use pairs (the last load is followed by movs, which does not read r0). */
    .thumb_func
    .type utoe_chain, %function
utoe_chain:
    str r0, [r0]
    .rept N_CHAIN
    ldr r0, [r0]
    .endr
    movs r1, #0
    bx lr
    .size utoe_chain, . - utoe_chain

/* r0 = n: n iterations, the loop's bne taken n - 1 times, not taken once;
   aligned so the loop's two instructions share one 4-byte flash word */
    .p2align 3
    .thumb_func
    .type utoe_branches, %function
utoe_branches:
1:  subs r0, #1
    bne 1b
    bx lr
    .size utoe_branches, . - utoe_branches

/* r0 = n words of the const table (in flash) at r1: n loads from flash */
    .thumb_func
    .type utoe_flash_read, %function
utoe_flash_read:
    movs r2, #0
1:  ldr r3, [r1]
    adds r1, #4
    adds r2, r2, r3
    subs r0, #1
    bne 1b
    bx lr
    .size utoe_flash_read, . - utoe_flash_read

/* r1 = the table: loads of lines X, Y, X, Z, X that share a set of a 2-way
 * cache of 4 sets of 8-byte lines (32 bytes apart): an LRU cache keeps X
 * (3 misses), a FIFO one would evict it (4) */
    .thumb_func
    .type utoe_lru, %function
utoe_lru:
    ldr r2, [r1]
    ldr r2, [r1, #32]
    ldr r2, [r1]
    ldr r2, [r1, #64]
    ldr r2, [r1]
    bx lr
    .size utoe_lru, . - utoe_lru

#ifdef ARMV7M
/* r0 = passes through 2 * K + 10 bytes of straight code, line-aligned (the
 * 32 bytes before are never executed: no miss is sequential to the previous
 * function's) */
    .macro straight name, k
    .space 32
    .balign 32
    .thumb_func
    .type \name, %function
\name:
1:  .rept \k
    adds r1, #1
    .endr
    subs r0, #1
    beq 2f
    b.w 1b
2:  bx lr
    .size \name, . - \name
    .endm
    straight utoe_small, K_SMALL
    straight utoe_big, K_BIG

/* one or more of each class */
    .thumb_func
    .type utoe_mix, %function
utoe_mix:
    push {r4, r5, r6, lr}       /* store_multiple, 4 registers */
    muls r2, r3, r2             /* mul */
    mla r2, r3, r4, r5          /* mac */
    smlad r2, r3, r4, r5        /* mac */
    umull r2, r3, r4, r5        /* mul */
    smlal r2, r3, r4, r5        /* mac */
    movs r4, #3
    sdiv r2, r3, r4             /* div */
    udiv r2, r3, r4             /* div */
    strd r2, r3, [sp, #-8]!     /* store_multiple, 2 */
    ldrd r2, r3, [sp], #8       /* load_multiple, 2 */
    ldm sp, {r2, r3, r4}        /* load_multiple, 3 */
    vmov s1, r2                 /* fpu */
    vldr s0, [sp]               /* load, used right away: */
    vadd.f32 s0, s0, s1         /* fpu, a load-use */
    vpush {d8}                  /* store_multiple, 2 words */
    vpop {d8}                   /* load_multiple, 2 words */
    pop {r4, r5, r6, pc}        /* jump (its 4 registers in load_multiple_regs) */
    .size utoe_mix, . - utoe_mix
#endif

    .section .rodata
    .balign 8
table:
    .rept N_FLASH
    .word 1
    .endr
exit_block:
    .word 0x20026, 0
