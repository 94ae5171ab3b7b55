/* The loops of arm.S for RV32IMAC (compressed instructions where the
 * assembler can: c.lw, c.addi, c.bnez, c.beqz, ret), on the sifive_e machine:
 * code and the const table in its flash at 0x20010000, RAM (DTIM) at 0x80000000. */
    .option norelax
    .text
    .global utoe_main
    .type utoe_main, @function
utoe_main:
    li sp, 0x80004000
    la t0, trap                 /* a trap ends the run, with an error */
    csrw mtvec, t0
    li a0, 0x80000100
    call utoe_chain
    li a0, N_BRANCH
    call utoe_branches
    li a0, N_FLASH
    la a1, table
    call utoe_flash_read
    la a1, table
    call utoe_lru
    li a0, 2
    call utoe_small
    li a0, 2
    call utoe_big
    call utoe_mix
    li a0, 0x20                 /* SYS_EXIT_EXTENDED (ADP_Stopped_ApplicationExit, 0) */
    la a1, exit_block
    .balign 16                  /* the semihosting marker: three uncompressed instructions in one page */
    .option push
    .option norvc
    slli x0, x0, 0x1f
    ebreak
    srai x0, x0, 7
    .option pop
1:  j 1b
    .balign 16
trap:
    li a0, 0x18                 /* SYS_EXIT, ADP_Stopped_RunTimeErrorUnknown */
    li a1, 0x20023
    .option push
    .option norvc
    slli x0, x0, 0x1f
    ebreak
    srai x0, x0, 7
    .option pop
    .size utoe_main, . - utoe_main

    .type utoe_chain, @function
utoe_chain:
    sw a0, 0(a0)
    .rept N_CHAIN
    lw a0, 0(a0)
    .endr
    li a1, 0
    ret
    .size utoe_chain, . - utoe_chain

    .type utoe_branches, @function
utoe_branches:
1:  addi a0, a0, -1
    bnez a0, 1b
    ret
    .size utoe_branches, . - utoe_branches

    .type utoe_flash_read, @function
utoe_flash_read:
    li a2, 0
1:  lw a3, 0(a1)
    addi a1, a1, 4
    add a2, a2, a3
    addi a0, a0, -1
    bnez a0, 1b
    ret
    .size utoe_flash_read, . - utoe_flash_read

    .type utoe_lru, @function
utoe_lru:
    lw a2, 0(a1)
    lw a2, 32(a1)
    lw a2, 0(a1)
    lw a2, 64(a1)
    lw a2, 0(a1)
    ret
    .size utoe_lru, . - utoe_lru

    .macro straight name, k
    .space 64                   /* line-aligned for both the plugin tests' 32-byte lines and the */
    .balign 64                  /* FE310-G002's 64-byte ones (freedom-e-sdk sifive-hifive1-revb core.dts) */
    .type \name, @function
\name:
1:  .rept \k
    addi a1, a1, 1
    .endr
    addi a0, a0, -1
    beqz a0, 2f
    j 1b
2:  ret
    .size \name, . - \name
    .endm
    straight utoe_small, K_SMALL
    straight utoe_big, K_BIG

    .type utoe_mix, @function
utoe_mix:
    li a3, 3                    /* alu */
    mul a2, a3, a4              /* mul */
    mulh a2, a3, a4             /* mul */
    mulhu a2, a3, a4            /* mul */
    div a2, a3, a3              /* div */
    remu a2, a3, a3             /* div */
    addi sp, sp, -16            /* alu */
    sw a2, 0(sp)                /* store */
    sh a2, 4(sp)                /* store */
    lbu a4, 0(sp)               /* load */
    lw a5, 0(sp)                /* load, used right away: */
    add a5, a5, a4              /* alu, a load-use */
    addi sp, sp, 16             /* alu */
    csrr a0, mstatus            /* other */
    ret                         /* jump */
    .size utoe_mix, . - utoe_mix

    .section .rodata
    .balign 8
table:
    .rept N_FLASH
    .word 1
    .endr
exit_block:
    .word 0x20026, 0
