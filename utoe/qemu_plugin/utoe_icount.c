/* utoe_icount.c - a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that
 * counts executed guest instructions in total and per "owner" function, by
 * instruction class, memory region and simulated cache.
 *
 *   qemu-system-arm ... -plugin utoe_icount.so,syms=FILE,out=FILE[,regions=..][,cache=..]... -d plugin
 *
 * syms: one owner per line, "<start hex> <end hex> <name> [op|run]" (end
 * exclusive); the optional kind marks the model's operators ("op") and the
 * executor functions that call them ("run").
 * regions: "NAME:LO-HI,NAME:LO-HI" (hex, [LO, HI)): every data load and store
 * and every instruction fetch is counted per region, "other" for the rest
 * (peripherals).
 * cache (repeatable): "NAME:SIDE:SIZE:WAYS:LINE:REGION": an LRU cache of SIZE
 * bytes, WAYS ways and LINE-byte lines on the instruction fetches (SIDE i) or
 * the data loads (SIDE d) that fall in REGION (a region's name). Stores are
 * write-through and no-allocate: they neither go through a d cache nor change
 * it. A flash line buffer is a cache of one line (SIZE = LINE, WAYS = 1).
 * dump=FILE (debugging): every translated instruction with its class.
 *
 * Every translation block is attributed when it executes: a block inside an
 * owner makes that owner current (and counts a call when it starts at the
 * owner's first address); a block outside every owner (libc's memcpy,
 * libgcc's division or soft-float helpers, expf) counts for the owner that is
 * current, i.e. the one that called it. So an operator's count includes the
 * library code it calls, and an executor calling operators keeps only its
 * own instructions. Blocks are counted whole when they start executing; a
 * block cut short by an exception (none in a normal run) counts a few more.
 * One vCPU is assumed: the boards are single-core microcontrollers.
 *
 * Per call site: a function symbol is not an operator. The compiler may fold
 * identical operator bodies into one function (GCC's -fipa-icf at -O2: the
 * copies become one-instruction thunks or aliases), so per-function counts
 * would charge every copy to the first. The plugin therefore also records the
 * executor's calls in sequence: a call opens when a block of an "op" owner
 * runs while no call is open, and closes when a block of a "run" owner (the
 * executor) runs again; every instruction in between, whatever function or
 * library code it is in, belongs to that call. The executor calls operators
 * in a known order, so Python maps call k of the sequence onto operator
 * k mod (number of operators) whatever the compiler folded.
 *
 * Instruction classes are decided once per instruction at translation, from
 * QEMU's disassembly (capstone's for Arm, QEMU's own for RISC-V): the
 * mnemonic gives the class, the operands the registers. A block's static
 * class counts are added each time it executes (no per-instruction
 * callback). Classes (Thumb/Thumb-2 and RV32IMAFC, compressed included):
 *   alu, mul, mac (multiply-accumulate), div, load, store (single),
 *   load_multiple / store_multiple (LDM/POP/LDRD, STM/PUSH/STRD, VLDM/VPOP,
 *     VSTM/VPUSH), with their registers in load_multiple_regs /
 *     store_multiple_regs (32-bit words: a VFP d register counts 2),
 *   branch_taken / branch_not_taken (conditional branches: B<cond>, CBZ,
 *     CBNZ, a conditional BX in an IT block, beq..bgeu, c.beqz/c.bnez),
 *     taken when the next block executed does not start right after it,
 *   jump (unconditional: B, BL, BX, BLX, TBB/TBH, any write to pc such as
 *     POP {..., pc} or LDR pc; jal, jalr, j, jr, ret; the registers of a
 *     POP/LDM that loads pc are still counted in load_multiple_regs),
 *   fpu (VFP/F arithmetic, conversions and moves; VFP/F loads and stores are
 *     loads and stores), other (system, barriers, CSR accesses, atomics and
 *     any mnemonic not known here).
 * Every executed instruction is in exactly one of alu, mul, mac, div, load,
 * store, load_multiple, store_multiple, branch_taken, branch_not_taken, jump,
 * fpu, other. An instruction of an IT block whose condition fails still
 * counts in its class (it takes its issue slot); its memory access, if any,
 * does not happen and is not counted. A conditional branch is settled as
 * taken or not by the next block only when it ends its block (QEMU ends a
 * block at every branch); one inside a block was not taken. load_use counts single loads (LDR*, VLDR, lw/lh/lb, flw, ...)
 * whose destination register is a source of the very next executed
 * instruction, from the disassembly's operands (the next instruction's
 * register operands after its destination, its first one too when it is
 * read: stores, compares, two-operand forms; implicit reads such as a
 * flag-reading ADC's flags or a PUSH's sp are not seen).
 * Memory: data accesses are counted through QEMU's memory callback (one per
 * access: an LDM of 4 registers is 4 loads; exception entry's stacking is no
 * instruction's and is not seen); instruction fetches per instruction by its
 * address. An instruction cache sees one access per instruction, on the line
 * of its first byte, and a lookup of the next line when the instruction
 * straddles it. seq_misses counts the misses whose line is the one right after
 * the previous miss of the same cache (what a sequential prefetcher hides).
 * The new counts are attributed as the instructions are: per owner, per call.
 * A conditional branch ending the run (the semihosting exit) is not taken.
 *
 * out: JSON written at exit (to out.tmp, then renamed):
 *   {"schema": "utoe.icount/3", "total": N,
 *    "functions": {"<name>": {"instructions": N, "calls": N, "detail": DETAIL}, ...},
 *    "sequence": [["<op owner entered>", N, DETAIL], ...], "sequence_complete": true,
 *    "total_detail": DETAIL}
 *   DETAIL = {"classes": {class: n, ...}, "fetch": {region: n, ...},
 *             "load": {region: n, ...}, "store": {region: n, ...},
 *             "caches": {name: {"accesses": n, "misses": n, "seq_misses": n}, ...}}
 * with every owner in the syms file's order, then "(other)" for what ran
 * before the first owner; "sequence" holds the executor's operator calls in
 * the order they ran, each with the instructions it executed; every class,
 * region (then "other") and cache is listed, zeros included.
 *
 * Debian ships no qemu-plugin.h; the few declarations used are below,
 * as in QEMU 7.2's include/qemu/qemu-plugin.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1 (declared here: not packaged) ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t {
    const char *target_name; /* "arm", "riscv32", ... (the rest of the struct is not used) */
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef uint32_t qemu_plugin_meminfo_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* ---- instruction classes ---- */

enum {
    C_ALU, C_MUL, C_MAC, C_DIV, C_LOAD, C_STORE, C_LDM, C_STM, C_LDM_REGS, C_STM_REGS,
    C_BR_TAKEN, C_BR_NOT_TAKEN, C_JUMP, C_FPU, C_OTHER, C_LOAD_USE, N_CLASSES,
    C_BRANCH = C_BR_TAKEN /* at translation: a conditional branch, taken or not decided when it runs */
};
static const char *const class_names[N_CLASSES] = {
    "alu", "mul", "mac", "div", "load", "store", "load_multiple", "store_multiple", "load_multiple_regs",
    "store_multiple_regs", "branch_taken", "branch_not_taken", "jump", "fpu", "other", "load_use"};

/* how an instruction reads its first operand */
enum { FIRST_2OP, /* read in a two-operand form (adds r3, #1), written only otherwise */
       FIRST_READ, /* always read: stores, compares, conditional branches */
       FIRST_WRITE /* written only (mov, lui, loads) */ };

typedef struct {
    const char *name;
    int cls;
    int first;
} mnemonic_t;

/* Thumb / Thumb-2 (ARMv6-M, ARMv7-M, ARMv7E-M), capstone's UAL names, without
 * condition, flag-setting 's' or width suffix (handled by arm_lookup) */
static const mnemonic_t arm_mnemonics[] = {
    {"mov", C_ALU, FIRST_WRITE}, {"movw", C_ALU, FIRST_WRITE}, {"movt", C_ALU, FIRST_READ},
    {"mvn", C_ALU, FIRST_WRITE}, {"add", C_ALU, FIRST_2OP}, {"addw", C_ALU, FIRST_2OP},
    {"adc", C_ALU, FIRST_2OP}, {"sub", C_ALU, FIRST_2OP}, {"subw", C_ALU, FIRST_2OP},
    {"sbc", C_ALU, FIRST_2OP}, {"rsb", C_ALU, FIRST_2OP}, {"and", C_ALU, FIRST_2OP},
    {"orr", C_ALU, FIRST_2OP}, {"orn", C_ALU, FIRST_2OP}, {"eor", C_ALU, FIRST_2OP},
    {"bic", C_ALU, FIRST_2OP}, {"lsl", C_ALU, FIRST_2OP}, {"lsr", C_ALU, FIRST_2OP},
    {"asr", C_ALU, FIRST_2OP}, {"ror", C_ALU, FIRST_2OP}, {"rrx", C_ALU, FIRST_WRITE},
    {"neg", C_ALU, FIRST_WRITE}, {"cmp", C_ALU, FIRST_READ}, {"cmn", C_ALU, FIRST_READ},
    {"tst", C_ALU, FIRST_READ}, {"teq", C_ALU, FIRST_READ}, {"adr", C_ALU, FIRST_WRITE},
    {"nop", C_ALU, FIRST_WRITE}, {"sxtb", C_ALU, FIRST_WRITE}, {"sxth", C_ALU, FIRST_WRITE},
    {"uxtb", C_ALU, FIRST_WRITE}, {"uxth", C_ALU, FIRST_WRITE}, {"sxtb16", C_ALU, FIRST_WRITE},
    {"uxtb16", C_ALU, FIRST_WRITE}, {"sxtab", C_ALU, FIRST_WRITE}, {"sxtah", C_ALU, FIRST_WRITE},
    {"uxtab", C_ALU, FIRST_WRITE}, {"uxtah", C_ALU, FIRST_WRITE}, {"sxtab16", C_ALU, FIRST_WRITE},
    {"uxtab16", C_ALU, FIRST_WRITE}, {"rev", C_ALU, FIRST_WRITE}, {"rev16", C_ALU, FIRST_WRITE},
    {"revsh", C_ALU, FIRST_WRITE}, {"rbit", C_ALU, FIRST_WRITE}, {"clz", C_ALU, FIRST_WRITE},
    {"bfi", C_ALU, FIRST_READ}, {"bfc", C_ALU, FIRST_READ}, {"ubfx", C_ALU, FIRST_WRITE},
    {"sbfx", C_ALU, FIRST_WRITE}, {"ssat", C_ALU, FIRST_WRITE}, {"usat", C_ALU, FIRST_WRITE},
    {"ssat16", C_ALU, FIRST_WRITE}, {"usat16", C_ALU, FIRST_WRITE}, {"sel", C_ALU, FIRST_WRITE},
    {"pkhbt", C_ALU, FIRST_WRITE}, {"pkhtb", C_ALU, FIRST_WRITE}, {"qadd", C_ALU, FIRST_WRITE},
    {"qsub", C_ALU, FIRST_WRITE}, {"qdadd", C_ALU, FIRST_WRITE}, {"qdsub", C_ALU, FIRST_WRITE},
    {"sadd8", C_ALU, FIRST_WRITE}, {"sadd16", C_ALU, FIRST_WRITE}, {"ssub8", C_ALU, FIRST_WRITE},
    {"ssub16", C_ALU, FIRST_WRITE}, {"uadd8", C_ALU, FIRST_WRITE}, {"uadd16", C_ALU, FIRST_WRITE},
    {"usub8", C_ALU, FIRST_WRITE}, {"usub16", C_ALU, FIRST_WRITE}, {"qadd8", C_ALU, FIRST_WRITE},
    {"qadd16", C_ALU, FIRST_WRITE}, {"qsub8", C_ALU, FIRST_WRITE}, {"qsub16", C_ALU, FIRST_WRITE},
    {"uqadd8", C_ALU, FIRST_WRITE}, {"uqadd16", C_ALU, FIRST_WRITE}, {"uqsub8", C_ALU, FIRST_WRITE},
    {"uqsub16", C_ALU, FIRST_WRITE}, {"shadd8", C_ALU, FIRST_WRITE}, {"shadd16", C_ALU, FIRST_WRITE},
    {"uhadd8", C_ALU, FIRST_WRITE}, {"uhadd16", C_ALU, FIRST_WRITE}, {"shsub8", C_ALU, FIRST_WRITE},
    {"shsub16", C_ALU, FIRST_WRITE}, {"uhsub8", C_ALU, FIRST_WRITE}, {"uhsub16", C_ALU, FIRST_WRITE},
    {"sasx", C_ALU, FIRST_WRITE}, {"ssax", C_ALU, FIRST_WRITE}, {"uasx", C_ALU, FIRST_WRITE},
    {"usax", C_ALU, FIRST_WRITE}, {"qasx", C_ALU, FIRST_WRITE}, {"qsax", C_ALU, FIRST_WRITE},
    {"usad8", C_ALU, FIRST_WRITE},
    {"mul", C_MUL, FIRST_2OP}, {"smulbb", C_MUL, FIRST_WRITE}, {"smulbt", C_MUL, FIRST_WRITE},
    {"smultb", C_MUL, FIRST_WRITE}, {"smultt", C_MUL, FIRST_WRITE}, {"smulwb", C_MUL, FIRST_WRITE},
    {"smulwt", C_MUL, FIRST_WRITE}, {"smmul", C_MUL, FIRST_WRITE}, {"smmulr", C_MUL, FIRST_WRITE},
    {"smuad", C_MUL, FIRST_WRITE}, {"smuadx", C_MUL, FIRST_WRITE}, {"smusd", C_MUL, FIRST_WRITE},
    {"smusdx", C_MUL, FIRST_WRITE}, {"umull", C_MUL, FIRST_WRITE}, {"smull", C_MUL, FIRST_WRITE},
    {"mla", C_MAC, FIRST_WRITE}, {"mls", C_MAC, FIRST_WRITE}, {"smlabb", C_MAC, FIRST_WRITE},
    {"smlabt", C_MAC, FIRST_WRITE}, {"smlatb", C_MAC, FIRST_WRITE}, {"smlatt", C_MAC, FIRST_WRITE},
    {"smlawb", C_MAC, FIRST_WRITE}, {"smlawt", C_MAC, FIRST_WRITE}, {"smlad", C_MAC, FIRST_WRITE},
    {"smladx", C_MAC, FIRST_WRITE}, {"smlsd", C_MAC, FIRST_WRITE}, {"smlsdx", C_MAC, FIRST_WRITE},
    {"smlal", C_MAC, FIRST_READ}, {"smlalbb", C_MAC, FIRST_READ}, {"smlalbt", C_MAC, FIRST_READ},
    {"smlaltb", C_MAC, FIRST_READ}, {"smlaltt", C_MAC, FIRST_READ}, {"smlald", C_MAC, FIRST_READ},
    {"smlaldx", C_MAC, FIRST_READ}, {"smlsld", C_MAC, FIRST_READ}, {"smlsldx", C_MAC, FIRST_READ},
    {"smmla", C_MAC, FIRST_WRITE}, {"smmlar", C_MAC, FIRST_WRITE}, {"smmls", C_MAC, FIRST_WRITE},
    {"smmlsr", C_MAC, FIRST_WRITE}, {"umlal", C_MAC, FIRST_READ}, {"umaal", C_MAC, FIRST_READ},
    {"usada8", C_MAC, FIRST_WRITE},
    {"sdiv", C_DIV, FIRST_WRITE}, {"udiv", C_DIV, FIRST_WRITE},
    {"ldr", C_LOAD, FIRST_WRITE}, {"ldrb", C_LOAD, FIRST_WRITE}, {"ldrh", C_LOAD, FIRST_WRITE},
    {"ldrsb", C_LOAD, FIRST_WRITE}, {"ldrsh", C_LOAD, FIRST_WRITE}, {"ldrt", C_LOAD, FIRST_WRITE},
    {"ldrbt", C_LOAD, FIRST_WRITE}, {"ldrht", C_LOAD, FIRST_WRITE}, {"ldrsbt", C_LOAD, FIRST_WRITE},
    {"ldrsht", C_LOAD, FIRST_WRITE}, {"ldrex", C_LOAD, FIRST_WRITE}, {"ldrexb", C_LOAD, FIRST_WRITE},
    {"ldrexh", C_LOAD, FIRST_WRITE},
    {"str", C_STORE, FIRST_READ}, {"strb", C_STORE, FIRST_READ}, {"strh", C_STORE, FIRST_READ},
    {"strt", C_STORE, FIRST_READ}, {"strbt", C_STORE, FIRST_READ}, {"strht", C_STORE, FIRST_READ},
    {"strex", C_STORE, FIRST_WRITE}, {"strexb", C_STORE, FIRST_WRITE}, {"strexh", C_STORE, FIRST_WRITE},
    {"ldrd", C_LDM, FIRST_WRITE}, {"ldm", C_LDM, FIRST_READ}, {"ldmia", C_LDM, FIRST_READ},
    {"ldmdb", C_LDM, FIRST_READ}, {"ldmfd", C_LDM, FIRST_READ}, {"ldmea", C_LDM, FIRST_READ},
    {"pop", C_LDM, FIRST_WRITE},
    {"strd", C_STM, FIRST_READ}, {"stm", C_STM, FIRST_READ}, {"stmia", C_STM, FIRST_READ},
    {"stmdb", C_STM, FIRST_READ}, {"stmea", C_STM, FIRST_READ}, {"stmfd", C_STM, FIRST_READ},
    {"push", C_STM, FIRST_READ},
    {"b", C_JUMP, FIRST_READ}, {"bl", C_JUMP, FIRST_READ}, {"blx", C_JUMP, FIRST_READ},
    {"bx", C_JUMP, FIRST_READ}, {"tbb", C_JUMP, FIRST_READ}, {"tbh", C_JUMP, FIRST_READ},
    {"cbz", C_BRANCH, FIRST_READ}, {"cbnz", C_BRANCH, FIRST_READ},
    {"bkpt", C_OTHER, FIRST_READ}, {"svc", C_OTHER, FIRST_READ}, {"udf", C_OTHER, FIRST_READ},
    {"cpsid", C_OTHER, FIRST_READ}, {"cpsie", C_OTHER, FIRST_READ}, {"msr", C_OTHER, FIRST_READ},
    {"mrs", C_OTHER, FIRST_WRITE}, {"dmb", C_OTHER, FIRST_READ}, {"dsb", C_OTHER, FIRST_READ},
    {"isb", C_OTHER, FIRST_READ}, {"wfi", C_OTHER, FIRST_READ}, {"wfe", C_OTHER, FIRST_READ},
    {"sev", C_OTHER, FIRST_READ}, {"yield", C_OTHER, FIRST_READ}, {"clrex", C_OTHER, FIRST_READ},
    {"pld", C_OTHER, FIRST_READ}, {"pli", C_OTHER, FIRST_READ},
    {NULL, 0, 0}};

/* RV32IMAFC, QEMU's disassembler's names (compressed ones without "c.") */
static const mnemonic_t rv_mnemonics[] = {
    {"add", C_ALU, FIRST_2OP}, {"addi", C_ALU, FIRST_2OP}, {"sub", C_ALU, FIRST_2OP},
    {"lui", C_ALU, FIRST_WRITE}, {"auipc", C_ALU, FIRST_WRITE}, {"and", C_ALU, FIRST_2OP},
    {"andi", C_ALU, FIRST_2OP}, {"or", C_ALU, FIRST_2OP}, {"ori", C_ALU, FIRST_2OP},
    {"xor", C_ALU, FIRST_2OP}, {"xori", C_ALU, FIRST_2OP}, {"sll", C_ALU, FIRST_2OP},
    {"slli", C_ALU, FIRST_2OP}, {"srl", C_ALU, FIRST_2OP}, {"srli", C_ALU, FIRST_2OP},
    {"sra", C_ALU, FIRST_2OP}, {"srai", C_ALU, FIRST_2OP}, {"slt", C_ALU, FIRST_WRITE},
    {"slti", C_ALU, FIRST_WRITE}, {"sltu", C_ALU, FIRST_WRITE}, {"sltiu", C_ALU, FIRST_WRITE},
    {"mv", C_ALU, FIRST_WRITE}, {"li", C_ALU, FIRST_WRITE}, {"nop", C_ALU, FIRST_WRITE},
    {"not", C_ALU, FIRST_WRITE}, {"neg", C_ALU, FIRST_WRITE}, {"seqz", C_ALU, FIRST_WRITE},
    {"snez", C_ALU, FIRST_WRITE}, {"sltz", C_ALU, FIRST_WRITE}, {"sgtz", C_ALU, FIRST_WRITE},
    {"addi16sp", C_ALU, FIRST_2OP}, {"addi4spn", C_ALU, FIRST_WRITE}, {"la", C_ALU, FIRST_WRITE},
    {"mul", C_MUL, FIRST_WRITE}, {"mulh", C_MUL, FIRST_WRITE}, {"mulhsu", C_MUL, FIRST_WRITE},
    {"mulhu", C_MUL, FIRST_WRITE},
    {"div", C_DIV, FIRST_WRITE}, {"divu", C_DIV, FIRST_WRITE}, {"rem", C_DIV, FIRST_WRITE},
    {"remu", C_DIV, FIRST_WRITE},
    {"lb", C_LOAD, FIRST_WRITE}, {"lh", C_LOAD, FIRST_WRITE}, {"lw", C_LOAD, FIRST_WRITE},
    {"lbu", C_LOAD, FIRST_WRITE}, {"lhu", C_LOAD, FIRST_WRITE}, {"flw", C_LOAD, FIRST_WRITE},
    {"fld", C_LOAD, FIRST_WRITE}, {"lwsp", C_LOAD, FIRST_WRITE}, {"flwsp", C_LOAD, FIRST_WRITE},
    {"lr.w", C_LOAD, FIRST_WRITE},
    {"sb", C_STORE, FIRST_READ}, {"sh", C_STORE, FIRST_READ}, {"sw", C_STORE, FIRST_READ},
    {"fsw", C_STORE, FIRST_READ}, {"fsd", C_STORE, FIRST_READ}, {"swsp", C_STORE, FIRST_READ},
    {"fswsp", C_STORE, FIRST_READ}, {"sc.w", C_STORE, FIRST_WRITE},
    {"beq", C_BRANCH, FIRST_READ}, {"bne", C_BRANCH, FIRST_READ}, {"blt", C_BRANCH, FIRST_READ},
    {"bge", C_BRANCH, FIRST_READ}, {"bltu", C_BRANCH, FIRST_READ}, {"bgeu", C_BRANCH, FIRST_READ},
    {"beqz", C_BRANCH, FIRST_READ}, {"bnez", C_BRANCH, FIRST_READ}, {"blez", C_BRANCH, FIRST_READ},
    {"bgez", C_BRANCH, FIRST_READ}, {"bltz", C_BRANCH, FIRST_READ}, {"bgtz", C_BRANCH, FIRST_READ},
    {"bgt", C_BRANCH, FIRST_READ}, {"ble", C_BRANCH, FIRST_READ}, {"bgtu", C_BRANCH, FIRST_READ},
    {"bleu", C_BRANCH, FIRST_READ},
    {"jal", C_JUMP, FIRST_WRITE}, {"jalr", C_JUMP, FIRST_2OP}, {"j", C_JUMP, FIRST_READ},
    {"jr", C_JUMP, FIRST_READ}, {"ret", C_JUMP, FIRST_READ}, {"call", C_JUMP, FIRST_READ},
    {"tail", C_JUMP, FIRST_READ},
    {"ecall", C_OTHER, FIRST_READ}, {"ebreak", C_OTHER, FIRST_READ}, {"fence", C_OTHER, FIRST_READ},
    {"fence.i", C_OTHER, FIRST_READ}, {"wfi", C_OTHER, FIRST_READ}, {"mret", C_OTHER, FIRST_READ},
    {"unimp", C_OTHER, FIRST_READ},
    {NULL, 0, 0}};

static const char *const arm_conds[] = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs",
                                        "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", NULL};

static const mnemonic_t *lookup(const mnemonic_t *table, const char *m) {
    for (; table->name; table++) {
        if (strcmp(table->name, m) == 0) {
            return table;
        }
    }
    return NULL;
}

static int is_cond(const char *s) {
    for (int i = 0; arm_conds[i]; i++) {
        if (strcmp(arm_conds[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* An Arm mnemonic as written (adds, ldrbne, movseq, bne, bxeq) against the
 * table: as it is, without a condition, without the flag-setting 's', without
 * both. *cond is set when a condition suffix was removed. */
static const mnemonic_t *arm_lookup(const char *m, int *cond) {
    char base[32];
    size_t n = strlen(m);
    const mnemonic_t *e;
    *cond = 0;
    if (n >= sizeof base) {
        return NULL;
    }
    if ((e = lookup(arm_mnemonics, m))) {
        return e;
    }
    if (n > 2 && is_cond(m + n - 2)) {
        memcpy(base, m, n - 2);
        base[n - 2] = 0;
        *cond = 1;
        if ((e = lookup(arm_mnemonics, base))) {
            return e;
        }
        if (n > 3 && base[n - 3] == 's') {
            base[n - 3] = 0;
            if ((e = lookup(arm_mnemonics, base))) {
                return e;
            }
        }
        *cond = 0;
    }
    if (m[n - 1] == 's') {
        memcpy(base, m, n - 1);
        base[n - 1] = 0;
        if ((e = lookup(arm_mnemonics, base))) {
            return e;
        }
    }
    return NULL;
}

/* ---- registers: a bit per register (Arm: r0-r15 0-15, s0-s31 16-47, a d
 * register as its two s; RISC-V: x1-x31 1-31, f0-f31 32-63) ---- */

static uint64_t arm_reg(const char *t) {
    static const char *const named[] = {"sb", "sl", "fp", "ip", "sp", "lr", "pc"};
    for (int i = 0; i < 7; i++) {
        if (strcmp(t, named[i]) == 0) {
            return 1ull << (9 + i);
        }
    }
    char *end;
    if ((t[0] == 'r' || t[0] == 's' || t[0] == 'd') && isdigit((unsigned char)t[1])) {
        long n = strtol(t + 1, &end, 10);
        if (*end) {
            return 0;
        }
        if (t[0] == 'r' && n < 16) {
            return 1ull << n;
        }
        if (t[0] == 's' && n < 32) {
            return 1ull << (16 + n);
        }
        if (t[0] == 'd' && n < 16) {
            return 3ull << (16 + 2 * n);
        }
    }
    return 0;
}

static uint64_t rv_reg(const char *t) {
    static const char *const abi[] = {"zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0",
                                      "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5",
                                      "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"};
    if (strcmp(t, "fp") == 0) {
        return 1ull << 8;
    }
    int fp = t[0] == 'f' && t[1] != 0 && strcmp(t, "fp") != 0;
    const char *r = fp ? t + 1 : t;
    for (int i = 1; i < 32; i++) {
        if (strcmp(r, abi[i]) == 0) {
            return 1ull << (i + (fp ? 32 : 0));
        }
    }
    char *end;
    if ((r[0] == 'x' || (fp && r == t + 1 && t[0] == 'f' && isdigit((unsigned char)r[0]))) &&
        isdigit((unsigned char)r[r[0] == 'x' ? 1 : 0])) {
        long n = strtol(r + (r[0] == 'x'), &end, 10);
        if (!*end && n > 0 && n < 32) {
            return 1ull << (n + (fp ? 32 : 0));
        }
    }
    return 0;
}

/* registers named in s; *words: how many 32-bit registers (a d register counts 2) */
static uint64_t regs_in(const char *s, int riscv, int *words) {
    uint64_t mask = 0;
    int count = 0;
    while (*s) {
        if (isalpha((unsigned char)*s) && (s[-1] == 0 || !isalnum((unsigned char)s[-1]))) {
            char tok[16];
            size_t n = 0;
            while ((isalnum((unsigned char)*s) || *s == '_') && n < sizeof tok - 1) {
                tok[n++] = *s++;
            }
            tok[n] = 0;
            uint64_t r = riscv ? rv_reg(tok) : arm_reg(tok);
            mask |= r;
            count += r ? (r & (r - 1) ? 2 : 1) : 0;
        } else {
            s++;
        }
    }
    if (words) {
        *words = count;
    }
    return mask;
}

#define MAX_OPS 8
/* operands split at the commas outside [] {} (); returns their number */
static int split_operands(char *s, char *ops[MAX_OPS]) {
    int n = 0, depth = 0;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (!*s) {
        return 0;
    }
    ops[n++] = s;
    for (; *s; s++) {
        if (*s == '[' || *s == '{' || *s == '(') {
            depth++;
        } else if (*s == ']' || *s == '}' || *s == ')') {
            depth--;
        } else if (*s == ',' && depth == 0 && n < MAX_OPS) {
            *s = 0;
            ops[n++] = s + 1;
        }
    }
    return n;
}

typedef struct {
    int cls;        /* C_* (C_BRANCH: conditional) */
    int regs;       /* load/store multiple: 32-bit registers transferred */
    uint64_t src;   /* registers read */
    uint64_t dst;   /* single loads: the registers loaded */
} insn_class_t;

/* Class and registers of one instruction from its disassembly, "mnemonic operands". */
static insn_class_t classify(const char *disas, int riscv) {
    insn_class_t c = {C_OTHER, 0, 0, 0};
    char buf[256], mnem[32];
    snprintf(buf, sizeof buf, "%s", disas ? disas : "");
    char *p = buf;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (riscv) {
        /* QEMU's RISC-V disassembler: "<encoding hex> <mnemonic> <operands> [# <target>]" */
        size_t hex = strspn(p, "0123456789abcdef");
        if (hex >= 4 && (p[hex] == ' ' || p[hex] == '\t')) {
            p += hex;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
        }
        char *comment = strchr(p, '#');
        if (comment) {
            *comment = 0;
        }
    }
    size_t n = 0;
    while (*p && *p != ' ' && *p != '\t' && n < sizeof mnem - 1) {
        mnem[n++] = (char)tolower((unsigned char)*p++);
    }
    mnem[n] = 0;
    char *ops[MAX_OPS];
    int n_ops = split_operands(p, ops);
    const mnemonic_t *e = NULL;
    int cond = 0, first = FIRST_READ;

    if (riscv) {
        const char *m = strncmp(mnem, "c.", 2) == 0 ? mnem + 2 : mnem;
        e = lookup(rv_mnemonics, m);
        if (!e && m[0] == 'f' && strncmp(m, "fence", 5) != 0) {
            c.cls = C_FPU; /* fadd.s, fmadd.s, fcvt.w.s, fmv.x.w, fsgnj.s, feq.s, ... */
            first = FIRST_WRITE;
        } else if (!e && (strncmp(m, "csr", 3) == 0 || strncmp(m, "amo", 3) == 0)) {
            c.cls = C_OTHER;
            first = FIRST_WRITE;
        } else if (e) {
            c.cls = e->cls;
            first = e->first;
        }
        if ((c.cls == C_JUMP) && n_ops == 1 && (strcmp(m, "jalr") == 0 || strcmp(m, "jr") == 0)) {
            first = FIRST_READ;
        }
        if (strcmp(m, "ret") == 0) {
            c.src = 1ull << 1; /* ra */
        }
    } else {
        /* width qualifier (.w/.n); VFP data types (.f32, .f64, .32) stay */
        size_t len = strlen(mnem);
        if (len > 2 && mnem[len - 2] == '.' && (mnem[len - 1] == 'w' || mnem[len - 1] == 'n')) {
            mnem[len - 2] = 0;
        }
        if (mnem[0] == 'v') {
            char base[32];
            snprintf(base, sizeof base, "%s", mnem);
            char *dot = strchr(base, '.');
            if (dot) {
                *dot = 0;
            }
            size_t bl = strlen(base);
            if (bl > 2 && is_cond(base + bl - 2) && strncmp(base, "vldm", 4) != 0 &&
                strncmp(base, "vstm", 4) != 0) {
                base[bl - 2] = 0; /* vaddeq.f32 -> vadd (an IT block's) */
            }
            if (strcmp(base, "vldr") == 0) {
                c.cls = C_LOAD;
                first = FIRST_WRITE;
            } else if (strcmp(base, "vstr") == 0) {
                c.cls = C_STORE;
            } else if (strcmp(base, "vpop") == 0 || strncmp(base, "vldm", 4) == 0) {
                c.cls = C_LDM;
                first = strcmp(base, "vpop") == 0 ? FIRST_WRITE : FIRST_READ;
            } else if (strcmp(base, "vpush") == 0 || strncmp(base, "vstm", 4) == 0) {
                c.cls = C_STM;
            } else {
                c.cls = C_FPU;
                /* vmla/vmls/vfma/vfms/vnmla/vnmls accumulate into their first operand */
                first = strstr(base, "ml") || strstr(base, "fm") || strstr(base, "fnm") ? FIRST_READ : FIRST_WRITE;
            }
        } else if (mnem[0] == 'i' && mnem[1] == 't' && strspn(mnem + 2, "te") == strlen(mnem + 2)) {
            c.cls = C_ALU; /* IT, ITE, ITTE, ...: one instruction, predicating the next ones */
            n_ops = 0;
        } else if ((e = arm_lookup(mnem, &cond))) {
            c.cls = e->cls;
            first = e->first;
            if (c.cls == C_JUMP && cond && strcmp(e->name, "tbb") != 0 && strcmp(e->name, "tbh") != 0) {
                c.cls = C_BRANCH; /* bne, beq.w, bxne lr (in an IT block) */
            }
        }
    }

    /* registers */
    int words = 0;
    if (c.cls == C_LDM || c.cls == C_STM) {
        /* ldrd/strd rt, rt2, [rn]: two; pop/push/ldm/stm {list}: the list's */
        for (int i = 0; i < n_ops; i++) {
            if (strchr(ops[i], '{')) {
                int w;
                uint64_t list = regs_in(ops[i], riscv, &w);
                words += w;
                if (c.cls == C_LDM && (list & (1ull << 15))) {
                    c.cls = C_JUMP; /* pop {..., pc}, ldm {..., pc}: a return */
                    c.regs = 0;
                }
                if (c.cls == C_STM) {
                    c.src |= list;
                }
            } else if (ops[i][0] != '[' && !strchr(ops[i], '[') && n_ops >= 3 && i < 2) {
                int w;
                uint64_t r = regs_in(ops[i], riscv, &w); /* ldrd/strd's transfer registers */
                words += w;
                if (c.cls == C_STM) {
                    c.src |= r;
                }
            } else {
                c.src |= regs_in(ops[i], riscv, NULL); /* base / address */
            }
        }
        if (c.cls == C_JUMP) {
            c.regs = words; /* counted in load_multiple_regs all the same */
        } else {
            c.regs = words;
        }
        return c;
    }
    for (int i = 0; i < n_ops; i++) {
        uint64_t r = regs_in(ops[i], riscv, NULL);
        if (i == 0 && !(first == FIRST_READ || (first == FIRST_2OP && n_ops == 2))) {
            if (c.cls == C_LOAD) {
                c.dst = r;
            }
            if (!riscv && (r & (1ull << 15)) && c.cls != C_BRANCH && c.cls != C_JUMP) {
                c.cls = C_JUMP; /* ldr pc, [...]; mov pc, lr; add pc, ...: a write to pc */
            }
            continue;
        }
        c.src |= r;
    }
    if (riscv) {
        c.src &= ~1ull; /* x0 */
    }
    return c;
}

/* ---- state ---- */

enum { KIND_OTHER, KIND_OP, KIND_RUN };

typedef struct {
    uint64_t start, end; /* [start, end) */
    char *name;
    uint64_t instructions, calls;
    int kind;
    uint64_t *detail;
} owner_t;

typedef struct {
    int owner; /* the op owner the call entered */
    uint64_t instructions;
    uint64_t *detail;
} call_t;

typedef struct {
    char name[32];
    uint64_t lo, hi;
} region_t;

typedef struct {
    char name[32];
    int data;   /* 0: instruction fetches, 1: data loads */
    int region; /* index into regions */
    uint64_t size, ways, line, sets;
    uint64_t *tags; /* sets x ways, line + 1 (0: invalid), most recently used first */
    uint64_t last_miss;
    int any_miss;
} cache_t;

typedef struct {
    uint64_t line;
    uint32_t n; /* instructions fetched from the line (0: touched by a straddling one) */
} run_t;

typedef struct {
    uint16_t index;
    uint32_t n;
} count_t;

typedef struct {
    int owner;      /* index into owners, or -1: the current owner's */
    int entry;      /* the block starts at its owner's first address */
    uint32_t insns; /* instructions in the block */
    uint64_t start;
    int last_branch;        /* the last instruction is a conditional branch */
    uint64_t fallthrough;   /* the address after it */
    uint64_t last_load_dst; /* the last instruction is a single load: its destination */
    uint64_t first_src;     /* the registers the first instruction reads */
    int n_counts;           /* static counts (classes, fetches): detail index, number */
    count_t *counts;
    int *n_runs;    /* per instruction cache: the lines the block fetches from, in order */
    run_t **runs;
} block_t;

#define MAX_REGIONS 8
#define MAX_CACHES 8
static region_t regions[MAX_REGIONS];
static int n_regions; /* regions[n_regions] is "other" */
static cache_t caches[MAX_CACHES];
static int n_caches;
static int riscv;
static FILE *dump;

/* the detail vector: classes, fetch/load/store per region (then other), 3 per cache */
static int n_detail;
#define D_FETCH (N_CLASSES)
#define D_LOAD (D_FETCH + n_regions + 1)
#define D_STORE (D_LOAD + n_regions + 1)
#define D_CACHE (D_STORE + n_regions + 1)

static owner_t *owners; /* sorted by start; owners[n_owners] is "(other)" */
static int n_owners;
static int *file_order; /* owner indices in the syms file's order */
static int current;
static uint64_t total;
static char *out_path;
static call_t *calls; /* the executor's operator calls, in order */
static size_t n_calls, cap_calls;
static int call_open;
static int calls_lost; /* out of memory: the sequence is incomplete */

/* what the previous block left to decide: a conditional branch (taken?) and a
 * load ending it (used by the next block's first instruction?), with where it counts */
static int pending_branch;
static uint64_t pending_fallthrough;
static uint64_t pending_load_dst;
static uint64_t *pending_owner_detail;
static long pending_call; /* index into calls, or -1 */

static void fail(const char *msg, const char *detail) {
    char buf[1024];
    snprintf(buf, sizeof buf, "utoe_icount: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
    qemu_plugin_outs(buf);
    fputs(buf, stderr);
}

static int find_owner(uint64_t pc) {
    int lo = 0, hi = n_owners - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (pc < owners[mid].start) {
            hi = mid - 1;
        } else if (pc >= owners[mid].end) {
            lo = mid + 1;
        } else {
            return mid;
        }
    }
    return -1;
}

static int region_of(uint64_t addr) {
    for (int i = 0; i < n_regions; i++) {
        if (addr >= regions[i].lo && addr < regions[i].hi) {
            return i;
        }
    }
    return n_regions;
}

static inline void count(uint64_t *owner_detail, uint64_t *call_detail, int index, uint64_t n) {
    owner_detail[index] += n;
    if (call_detail) {
        call_detail[index] += n;
    }
}

/* one lookup of a line (n accesses to it) in an LRU cache */
static void cache_access(int k, uint64_t line, uint64_t n, uint64_t *od, uint64_t *cd) {
    cache_t *c = &caches[k];
    int base = D_CACHE + 3 * k;
    uint64_t *set = &c->tags[(line % c->sets) * c->ways];
    uint64_t tag = line + 1;
    count(od, cd, base, n);
    for (uint64_t w = 0; w < c->ways; w++) {
        if (set[w] == tag) {
            memmove(set + 1, set, w * sizeof *set); /* most recently used first */
            set[0] = tag;
            return;
        }
    }
    count(od, cd, base + 1, 1);
    if (c->any_miss && line == c->last_miss + 1) {
        count(od, cd, base + 2, 1);
    }
    c->any_miss = 1;
    c->last_miss = line;
    memmove(set + 1, set, (c->ways - 1) * sizeof *set); /* the least recently used leaves */
    set[0] = tag;
}

static uint64_t *open_call_detail(void) {
    return call_open ? calls[n_calls - 1].detail : NULL;
}

static void block_exec(unsigned int vcpu, void *udata) {
    const block_t *b = udata;
    (void)vcpu;
    if (pending_branch || pending_load_dst) {
        uint64_t *pcd = pending_call >= 0 ? calls[pending_call].detail : NULL;
        if (pending_branch) {
            count(pending_owner_detail, pcd, b->start == pending_fallthrough ? C_BR_NOT_TAKEN : C_BR_TAKEN, 1);
        }
        if (pending_load_dst & b->first_src) {
            count(pending_owner_detail, pcd, C_LOAD_USE, 1);
        }
        pending_branch = 0;
        pending_load_dst = 0;
    }
    if (b->owner >= 0) {
        current = b->owner;
        owners[current].calls += (uint64_t)b->entry;
        int kind = owners[current].kind;
        if (kind == KIND_RUN) {
            call_open = 0;
        } else if (kind == KIND_OP && !call_open) {
            if (n_calls == cap_calls) {
                size_t cap = cap_calls ? 2 * cap_calls : 256;
                call_t *grown = realloc(calls, cap * sizeof *calls);
                if (!grown) {
                    calls_lost = 1;
                } else {
                    calls = grown;
                    cap_calls = cap;
                }
            }
            if (n_calls < cap_calls) {
                uint64_t *detail = calloc((size_t)n_detail, sizeof *detail);
                if (!detail) {
                    calls_lost = 1;
                } else {
                    calls[n_calls++] = (call_t){current, 0, detail};
                    call_open = 1;
                }
            }
        }
    }
    uint64_t *od = owners[current].detail, *cd = open_call_detail();
    owners[current].instructions += b->insns;
    total += b->insns;
    if (cd) {
        calls[n_calls - 1].instructions += b->insns;
    }
    for (int i = 0; i < b->n_counts; i++) {
        count(od, cd, b->counts[i].index, b->counts[i].n);
    }
    for (int k = 0; k < n_caches; k++) {
        for (int i = 0; i < b->n_runs[k]; i++) {
            cache_access(k, b->runs[k][i].line, b->runs[k][i].n, od, cd);
        }
    }
    if (b->last_branch || b->last_load_dst) {
        pending_branch = b->last_branch;
        pending_fallthrough = b->fallthrough;
        pending_load_dst = b->last_load_dst;
        pending_owner_detail = od;
        pending_call = cd ? (long)n_calls - 1 : -1;
    }
}

static void mem_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    (void)vcpu;
    (void)udata;
    int store = qemu_plugin_mem_is_store(info);
    int r = region_of(vaddr);
    uint64_t *od = owners[current].detail, *cd = open_call_detail();
    count(od, cd, (store ? D_STORE : D_LOAD) + r, 1);
    if (!store) {
        for (int k = 0; k < n_caches; k++) {
            if (caches[k].data && caches[k].region == r) {
                cache_access(k, vaddr / caches[k].line, 1, od, cd);
            }
        }
    }
}

static void block_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    /* one allocation: the block, its counts, its runs (live as long as the translation) */
    size_t max_counts = N_CLASSES + n_regions + 1;
    size_t size = sizeof(block_t) + max_counts * sizeof(count_t) + (size_t)n_caches * (sizeof(int) + sizeof(run_t *)) +
                  (size_t)n_caches * 2 * n * sizeof(run_t);
    block_t *b = calloc(1, size);
    if (!b) {
        return;
    }
    char *mem = (char *)(b + 1);
    b->counts = (count_t *)mem;
    mem += max_counts * sizeof(count_t);
    b->n_runs = (int *)mem;
    mem += (size_t)n_caches * sizeof(int);
    b->runs = (run_t **)mem;
    mem += (size_t)n_caches * sizeof(run_t *);
    for (int k = 0; k < n_caches; k++) {
        b->runs[k] = (run_t *)mem;
        mem += 2 * n * sizeof(run_t);
    }
    uint64_t pc = qemu_plugin_tb_vaddr(tb);
    b->start = pc;
    b->owner = find_owner(pc);
    b->entry = b->owner >= 0 && owners[b->owner].start == pc;
    b->insns = (uint32_t)n;

    uint32_t static_counts[N_CLASSES + MAX_REGIONS + 1] = {0};
    insn_class_t prev = {C_OTHER, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t addr = qemu_plugin_insn_vaddr(insn);
        size_t isize = qemu_plugin_insn_size(insn);
        char *text = qemu_plugin_insn_disas(insn);
        insn_class_t c = classify(text, riscv);
        if (dump) {
            fprintf(dump, "%08" PRIx64 " %-18s %2d %016" PRIx64 " %016" PRIx64 " %s\n", addr,
                    c.cls == C_BRANCH ? "branch" : class_names[c.cls], c.regs, c.src, c.dst, text ? text : "?");
        }
        free(text);
        if (i == 0) {
            b->first_src = c.src;
        } else if (prev.dst & c.src) {
            static_counts[C_LOAD_USE]++;
        }
        int last = i + 1 == n;
        if (c.cls == C_BRANCH) {
            if (last) {
                b->last_branch = 1;
                b->fallthrough = addr + isize;
            } else {
                static_counts[C_BR_NOT_TAKEN]++; /* the block went on past it */
            }
        } else {
            static_counts[c.cls]++;
        }
        if (c.cls == C_LDM || (c.cls == C_JUMP && c.regs)) {
            static_counts[C_LDM_REGS] += (uint32_t)c.regs;
        } else if (c.cls == C_STM) {
            static_counts[C_STM_REGS] += (uint32_t)c.regs;
        }
        if (c.cls == C_LOAD && last) {
            b->last_load_dst = c.dst;
        }
        int r = region_of(addr);
        static_counts[N_CLASSES + r]++;
        for (int k = 0; k < n_caches; k++) {
            if (caches[k].data || caches[k].region != r) {
                continue;
            }
            uint64_t first = addr / caches[k].line, end = (addr + isize - 1) / caches[k].line;
            int *nr = &b->n_runs[k];
            if (*nr && b->runs[k][*nr - 1].line == first) {
                b->runs[k][*nr - 1].n++;
            } else {
                b->runs[k][(*nr)++] = (run_t){first, 1};
            }
            if (end != first) {
                b->runs[k][(*nr)++] = (run_t){end, 0};
            }
        }
        prev = c;
        qemu_plugin_register_vcpu_mem_cb(insn, mem_access, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
    }
    for (int i = 0; i < N_CLASSES + n_regions + 1; i++) {
        if (static_counts[i]) {
            b->counts[b->n_counts++] = (count_t){(uint16_t)i, static_counts[i]};
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", (unsigned char)*s);
        } else {
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

static void json_regions(FILE *f, const char *key, const uint64_t *v) {
    fprintf(f, ", \"%s\": {", key);
    for (int i = 0; i <= n_regions; i++) {
        fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", i < n_regions ? regions[i].name : "other", v[i]);
    }
    fputc('}', f);
}

static void json_detail(FILE *f, const uint64_t *d) {
    fputs("{\"classes\": {", f);
    for (int i = 0; i < N_CLASSES; i++) {
        fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", class_names[i], d[i]);
    }
    fputc('}', f);
    json_regions(f, "fetch", d + D_FETCH);
    json_regions(f, "load", d + D_LOAD);
    json_regions(f, "store", d + D_STORE);
    fputs(", \"caches\": {", f);
    for (int k = 0; k < n_caches; k++) {
        const uint64_t *c = d + D_CACHE + 3 * k;
        fprintf(f, "%s", k ? ", " : "");
        json_string(f, caches[k].name);
        fprintf(f, ": {\"accesses\": %" PRIu64 ", \"misses\": %" PRIu64 ", \"seq_misses\": %" PRIu64 "}", c[0],
                c[1], c[2]);
    }
    fputs("}}", f);
}

static void at_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    if (pending_branch) { /* the run ended right after a conditional branch: not taken */
        count(pending_owner_detail, pending_call >= 0 ? calls[pending_call].detail : NULL, C_BR_NOT_TAKEN, 1);
        pending_branch = 0;
    }
    if (dump) {
        fclose(dump);
        dump = NULL;
    }
    size_t n = strlen(out_path) + 5;
    char *tmp = malloc(n);
    uint64_t *sum = calloc((size_t)n_detail, sizeof *sum);
    if (!tmp || !sum) {
        free(tmp);
        free(sum);
        return;
    }
    snprintf(tmp, n, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fail("cannot write", tmp);
        free(tmp);
        free(sum);
        return;
    }
    fprintf(f, "{\"schema\": \"utoe.icount/3\", \"total\": %" PRIu64 ", \"functions\": {", total);
    for (int k = 0; k <= n_owners; k++) {
        const owner_t *o = &owners[k < n_owners ? file_order[k] : n_owners];
        fprintf(f, "%s\n  ", k ? "," : "");
        json_string(f, o->name);
        fprintf(f, ": {\"instructions\": %" PRIu64 ", \"calls\": %" PRIu64 ", \"detail\": ", o->instructions,
                o->calls);
        json_detail(f, o->detail);
        fputc('}', f);
        for (int i = 0; i < n_detail; i++) {
            sum[i] += o->detail[i];
        }
    }
    fputs("\n}, \"sequence\": [", f);
    for (size_t k = 0; k < n_calls; k++) {
        fputs(k ? ",\n  [" : "\n  [", f);
        json_string(f, owners[calls[k].owner].name);
        fprintf(f, ", %" PRIu64 ", ", calls[k].instructions);
        json_detail(f, calls[k].detail);
        fputc(']', f);
    }
    fprintf(f, "\n], \"sequence_complete\": %s, \"total_detail\": ", calls_lost ? "false" : "true");
    json_detail(f, sum);
    fputs("}\n", f);
    if (fclose(f) != 0 || rename(tmp, out_path) != 0) {
        fail("cannot write", out_path);
    }
    free(tmp);
    free(sum);
}

static int by_start(const void *a, const void *b) {
    const owner_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int load_symbols(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fail("cannot open the syms file", path);
        return -1;
    }
    char line[1024];
    int cap = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '#') {
            continue;
        }
        uint64_t start, end;
        char name[512], kind_s[8] = "";
        int got = sscanf(line, "%" SCNx64 " %" SCNx64 " %511s %7s", &start, &end, name, kind_s);
        int kind = !kind_s[0] ? KIND_OTHER : strcmp(kind_s, "op") == 0 ? KIND_OP
                   : strcmp(kind_s, "run") == 0 ? KIND_RUN : -1;
        if (got < 3 || end <= start || kind < 0) {
            char where[600];
            snprintf(where, sizeof where,
                     "%s line %d: expected '<start hex> <end hex> <name> [op|run]', got '%.500s'",
                     path, lineno, strtok(line, "\n") ? line : "");
            fail("bad syms file", where);
            fclose(f);
            return -1;
        }
        if (n_owners + 1 >= cap) {
            cap = cap ? 2 * cap : 64;
            owners = realloc(owners, (size_t)(cap + 1) * sizeof *owners);
            if (!owners) {
                fclose(f);
                return -1;
            }
        }
        owners[n_owners++] = (owner_t){start, end, strdup(name), (uint64_t)lineno, 0, kind, NULL};
    }
    fclose(f);
    if (!owners) {
        owners = calloc(1, sizeof *owners);
    }
    /* sort by address, remembering the file order (kept in .instructions
     * until counting starts); an owner overlapping an earlier one is dropped */
    qsort(owners, (size_t)n_owners, sizeof *owners, by_start);
    int kept = 0;
    for (int i = 0; i < n_owners; i++) {
        if (kept && owners[i].start < owners[kept - 1].end) {
            continue;
        }
        owners[kept++] = owners[i];
    }
    n_owners = kept;
    file_order = malloc((size_t)(n_owners + 1) * sizeof *file_order);
    for (int i = 0; i < n_owners; i++) {
        file_order[i] = i;
    }
    for (int i = 1; i < n_owners; i++) { /* insertion sort by file line */
        int k = file_order[i], j = i - 1;
        while (j >= 0 && owners[file_order[j]].instructions > owners[k].instructions) {
            file_order[j + 1] = file_order[j];
            j--;
        }
        file_order[j + 1] = k;
    }
    for (int i = 0; i < n_owners; i++) {
        owners[i].instructions = 0;
    }
    owners[n_owners] = (owner_t){0, 0, "(other)", 0, 0, KIND_OTHER, NULL};
    current = n_owners;
    return 0;
}

static int parse_name(const char **s, char *name, size_t size) {
    size_t n = strcspn(*s, ":");
    if (n == 0 || n >= size || (*s)[n] != ':') {
        return -1;
    }
    memcpy(name, *s, n);
    name[n] = 0;
    *s += n + 1;
    return 0;
}

/* one region of regions=NAME:LO-HI,NAME:LO-HI */
static int parse_region(const char *s) {
    region_t r;
    char *end;
    if (n_regions == MAX_REGIONS || parse_name(&s, r.name, sizeof r.name) != 0) {
        return -1;
    }
    r.lo = strtoull(s, &end, 16);
    if (end == s || *end != '-') {
        return -1;
    }
    s = end + 1;
    r.hi = strtoull(s, &end, 16);
    if (end == s || *end || r.hi <= r.lo || strcmp(r.name, "other") == 0) {
        return -1;
    }
    for (int i = 0; i < n_regions; i++) {
        if (strcmp(regions[i].name, r.name) == 0) {
            return -1;
        }
    }
    regions[n_regions++] = r;
    return 0;
}

/* regions=NAME:LO-HI,NAME:LO-HI (on QEMU's command line the commas are doubled) */
static int parse_regions(const char *s) {
    char buf[512];
    if (strlen(s) >= sizeof buf) {
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (parse_region(tok) != 0) {
            return -1;
        }
    }
    return 0;
}

/* cache=NAME:SIDE:SIZE:WAYS:LINE:REGION (the region's name is resolved once all are read) */
static char cache_regions[MAX_CACHES][32];

static int parse_cache(const char *s) {
    cache_t c = {0};
    char side[4], num[3][24];
    if (n_caches == MAX_CACHES || parse_name(&s, c.name, sizeof c.name) != 0 ||
        parse_name(&s, side, sizeof side) != 0 || (strcmp(side, "i") != 0 && strcmp(side, "d") != 0)) {
        return -1;
    }
    c.data = side[0] == 'd';
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        char *end;
        if (parse_name(&s, num[i], sizeof num[i]) != 0) {
            return -1;
        }
        v[i] = strtoull(num[i], &end, 0);
        if (*end || v[i] == 0) {
            return -1;
        }
    }
    c.size = v[0];
    c.ways = v[1];
    c.line = v[2];
    if (c.size % (c.ways * c.line) != 0 || !*s || strlen(s) >= sizeof cache_regions[0]) {
        return -1;
    }
    for (int i = 0; i < n_caches; i++) {
        if (strcmp(caches[i].name, c.name) == 0) {
            return -1;
        }
    }
    c.sets = c.size / (c.ways * c.line);
    c.tags = calloc(c.size / c.line, sizeof *c.tags);
    if (!c.tags) {
        return -1;
    }
    snprintf(cache_regions[n_caches], sizeof cache_regions[0], "%s", s);
    caches[n_caches++] = c;
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv) {
    const char *syms = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "syms=", 5) == 0) {
            syms = argv[i] + 5;
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = strdup(argv[i] + 4);
        } else if (strncmp(argv[i], "regions=", 8) == 0) {
            if (n_regions || parse_regions(argv[i] + 8) != 0) {
                fail("bad region (expected regions=NAME:LO-HI,NAME:LO-HI, hex, LO < HI, names unique and not 'other')",
                     argv[i]);
                return -1;
            }
        } else if (strncmp(argv[i], "cache=", 6) == 0) {
            if (parse_cache(argv[i] + 6) != 0) {
                fail("bad cache (expected cache=NAME:SIDE:SIZE:WAYS:LINE:REGION, SIDE i or d, SIZE a multiple "
                     "of WAYS x LINE, names unique)", argv[i]);
                return -1;
            }
        } else if (strncmp(argv[i], "dump=", 5) == 0) {
            dump = fopen(argv[i] + 5, "w");
            if (!dump) {
                fail("cannot write", argv[i] + 5);
                return -1;
            }
        } else {
            fail("unknown argument (expected syms=FILE,out=FILE[,regions=...][,cache=...])", argv[i]);
            return -1;
        }
    }
    if (!syms || !out_path) {
        fail("both syms=FILE and out=FILE are required", NULL);
        return -1;
    }
    for (int k = 0; k < n_caches; k++) {
        caches[k].region = -1;
        for (int i = 0; i < n_regions; i++) {
            if (strcmp(regions[i].name, cache_regions[k]) == 0) {
                caches[k].region = i;
            }
        }
        if (caches[k].region < 0) {
            fail("a cache's region is none of regions=", cache_regions[k]);
            return -1;
        }
    }
    n_detail = D_CACHE + 3 * n_caches;
    if (load_symbols(syms) != 0) {
        return -1;
    }
    for (int i = 0; i <= n_owners; i++) {
        owners[i].detail = calloc((size_t)n_detail, sizeof(uint64_t));
        if (!owners[i].detail) {
            return -1;
        }
    }
    riscv = info && info->target_name && strncmp(info->target_name, "riscv", 5) == 0;
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
