/* utoe_icount.c - a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that
 * counts executed guest instructions in total and per "owner" function.
 *
 *   qemu-system-arm ... -plugin utoe_icount.so,syms=FILE,out=FILE -d plugin
 *
 * syms: one owner per line, "<start hex> <end hex> <name> [op|run]" (end
 * exclusive); the optional kind marks the model's operators ("op") and the
 * executor functions that call them ("run").
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
 * out: JSON written at exit (to out.tmp, then renamed):
 *   {"schema": "utoe.icount/2", "total": N,
 *    "functions": {"<name>": {"instructions": N, "calls": N}, ...},
 *    "sequence": [["<op owner entered>", N], ...]}
 * with every owner in the syms file's order, then "(other)" for what ran
 * before the first owner; "sequence" holds the executor's operator calls in
 * the order they ran, each with the instructions it executed.
 *
 * Debian ships no qemu-plugin.h; the few declarations used are below,
 * as in QEMU 7.2's include/qemu/qemu-plugin.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1 (declared here: not packaged) ---- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* ---- state ---- */

enum { KIND_OTHER, KIND_OP, KIND_RUN };

typedef struct {
    uint64_t start, end; /* [start, end) */
    char *name;
    uint64_t instructions, calls;
    int kind;
} owner_t;

typedef struct {
    int owner; /* the op owner the call entered */
    uint64_t instructions;
} call_t;

typedef struct {
    int owner;      /* index into owners, or -1: the current owner's */
    int entry;      /* the block starts at its owner's first address */
    uint32_t insns; /* instructions in the block */
} block_t;

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

static void block_exec(unsigned int vcpu, void *udata) {
    const block_t *b = udata;
    (void)vcpu;
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
                calls[n_calls++] = (call_t){current, 0};
                call_open = 1;
            }
        }
    }
    owners[current].instructions += b->insns;
    total += b->insns;
    if (call_open) {
        calls[n_calls - 1].instructions += b->insns;
    }
}

static void block_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    block_t *b = malloc(sizeof *b); /* lives as long as the translation */
    if (!b) {
        return;
    }
    uint64_t pc = qemu_plugin_tb_vaddr(tb);
    b->owner = find_owner(pc);
    b->entry = b->owner >= 0 && owners[b->owner].start == pc;
    b->insns = (uint32_t)qemu_plugin_tb_n_insns(tb);
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

static void at_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    size_t n = strlen(out_path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        return;
    }
    snprintf(tmp, n, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fail("cannot write", tmp);
        free(tmp);
        return;
    }
    fprintf(f, "{\"schema\": \"utoe.icount/2\", \"total\": %" PRIu64 ", \"functions\": {", total);
    for (int k = 0; k <= n_owners; k++) {
        const owner_t *o = &owners[k < n_owners ? file_order[k] : n_owners];
        fprintf(f, "%s\n  ", k ? "," : "");
        json_string(f, o->name);
        fprintf(f, ": {\"instructions\": %" PRIu64 ", \"calls\": %" PRIu64 "}", o->instructions, o->calls);
    }
    fputs("\n}, \"sequence\": [", f);
    for (size_t k = 0; k < n_calls; k++) {
        fputs(k ? ",\n  [" : "\n  [", f);
        json_string(f, owners[calls[k].owner].name);
        fprintf(f, ", %" PRIu64 "]", calls[k].instructions);
    }
    fprintf(f, "\n], \"sequence_complete\": %s}\n", calls_lost ? "false" : "true");
    if (fclose(f) != 0 || rename(tmp, out_path) != 0) {
        fail("cannot write", out_path);
    }
    free(tmp);
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
        owners[n_owners++] = (owner_t){start, end, strdup(name), (uint64_t)lineno, 0, kind};
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
    owners[n_owners] = (owner_t){0, 0, "(other)", 0, 0, KIND_OTHER};
    current = n_owners;
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv) {
    (void)info;
    const char *syms = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "syms=", 5) == 0) {
            syms = argv[i] + 5;
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = strdup(argv[i] + 4);
        } else {
            fail("unknown argument (expected syms=FILE,out=FILE)", argv[i]);
            return -1;
        }
    }
    if (!syms || !out_path) {
        fail("both syms=FILE and out=FILE are required", NULL);
        return -1;
    }
    if (load_symbols(syms) != 0) {
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
