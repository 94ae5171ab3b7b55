/* utoe_eval.c - the portable evaluation harness (docs/protocol.md).
 *
 * The same C on every platform: fills the model's inputs from a seeded
 * generator, runs UTOE_CONFIG_TRIALS trials and times each (per operator in
 * per-operator mode), measures the stack's peak by painting, checksums the
 * outputs and prints the line protocol. No printf and no malloc: a tiny
 * formatter keeps the harness small on microcontrollers. */
#include <stddef.h>
#include <stdint.h>

#include "utoe_config.h"
#include "utoe_model.h"
#include "utoe_platform.h"

#ifndef UTOE_CONFIG_TRACE
#define UTOE_CONFIG_TRACE 0
#endif

#if UTOE_CONFIG_MODE
#define UTOE_MODE_NAME "per-operator"
#define UTOE_BANNER "U-TOE Per-Operator Evaluation"
#else
#define UTOE_MODE_NAME "per-model"
#define UTOE_BANNER "U-TOE Per-Model Evaluation"
#endif

/* Output bytes per 'utoe: output' line; a config may lower it for consoles
 * with short line buffers. */
#ifndef UTOE_HEX_CHUNK
#define UTOE_HEX_CHUNK 4096u
#endif

/* ---- output ---- */

static void put_str(const char *s) {
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    utoe_platform_write(s, n);
}

static void put_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    put_str(&buf[i]);
}

static void put_i64(int64_t v) {
    if (v < 0) {
        put_str("-");
        put_u64((uint64_t)(-(v + 1)) + 1u);
    } else {
        put_u64((uint64_t)v);
    }
}

static const char HEX[] = "0123456789abcdef";

static void put_hex32(uint32_t v) {
    char buf[11] = "0x00000000";
    for (int i = 0; i < 8; i++) {
        buf[9 - i] = HEX[(v >> (4 * i)) & 0xFu];
    }
    put_str(buf);
}

static void put_hex_bytes(const uint8_t *p, uint32_t n) {
    char buf[64];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        buf[k++] = HEX[p[i] >> 4];
        buf[k++] = HEX[p[i] & 0xFu];
        if (k == sizeof(buf)) {
            utoe_platform_write(buf, k);
            k = 0;
        }
    }
    if (k) {
        utoe_platform_write(buf, k);
    }
}

static const char *dtype_name(utoe_dtype_t t) {
    switch (t) {
    case UTOE_DT_FLOAT32: return "float32";
    case UTOE_DT_INT8: return "int8";
    case UTOE_DT_UINT8: return "uint8";
    case UTOE_DT_INT16: return "int16";
    case UTOE_DT_INT32: return "int32";
    case UTOE_DT_INT64: return "int64";
    case UTOE_DT_BOOL: return "bool";
    }
    return "unknown";
}

/* 'utoe: <what> index=I dtype=D bytes=N [offset=O] hex=...' lines for one tensor */
static void put_tensor(const char *what, unsigned index, const utoe_tensor_info_t *o) {
    const uint8_t *p = (const uint8_t *)o->data;
    for (uint32_t off = 0; off < o->bytes || off == 0; off += UTOE_HEX_CHUNK) {
        uint32_t n = o->bytes - off < UTOE_HEX_CHUNK ? o->bytes - off : UTOE_HEX_CHUNK;
        put_str("utoe: ");
        put_str(what);
        put_str(" index=");
        put_u64(index);
        put_str(" dtype=");
        put_str(dtype_name(o->dtype));
        put_str(" bytes=");
        put_u64(o->bytes);
        if (o->bytes > UTOE_HEX_CHUNK) {
            put_str(" offset=");
            put_u64(off);
        }
        put_str(" hex=");
        put_hex_bytes(p + off, n);
        put_str("\n");
        if (o->bytes == 0) {
            break;
        }
    }
}

/* ---- inputs: xorshift32, one step per element (docs/protocol.md) ---- */

static uint32_t rng_state;

static uint32_t rng_next(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void fill_inputs(void) {
    rng_state = UTOE_CONFIG_SEED ? (uint32_t)UTOE_CONFIG_SEED : 0x9E3779B9u;
    for (unsigned i = 0; i < utoe_model_num_inputs(); i++) {
        const utoe_tensor_info_t *t = utoe_model_input(i);
        for (uint32_t e = 0; e < t->count; e++) {
            uint32_t x = rng_next();
            switch (t->dtype) {
            case UTOE_DT_FLOAT32:
                ((float *)t->data)[e] = (float)(x >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
                break;
            case UTOE_DT_INT8: ((int8_t *)t->data)[e] = (int8_t)(x >> 24); break;
            case UTOE_DT_UINT8: ((uint8_t *)t->data)[e] = (uint8_t)(x >> 24); break;
            case UTOE_DT_INT16: ((int16_t *)t->data)[e] = (int16_t)(x >> 16); break;
            case UTOE_DT_INT32: ((int32_t *)t->data)[e] = (int32_t)x; break;
            case UTOE_DT_INT64: ((int64_t *)t->data)[e] = (int64_t)(int32_t)x; break;
            case UTOE_DT_BOOL: ((uint8_t *)t->data)[e] = (uint8_t)((x >> 31) & 1u); break;
            }
        }
    }
}

/* ---- one trial ---- */

static int run_trial(unsigned trial, uint64_t *ticks) {
    int ret = 0;
    fill_inputs();
#if UTOE_CONFIG_MODE
    unsigned n = utoe_model_num_ops();
    uint64_t start = utoe_platform_ticks();
    uint64_t prev = start;
    for (unsigned i = 0; i < n; i++) {
        int r = utoe_model_run_op(i);
        uint64_t now = utoe_platform_ticks();
        put_str("utoe: op trial=");
        put_u64(trial);
        put_str(" index=");
        put_u64(i);
        put_str(" ticks=");
        put_u64(now - prev);
        put_str(" ret=");
        put_i64(r);
        put_str("\n");
#if UTOE_CONFIG_TRACE
        if (trial == 0) {
            put_tensor("trace", i, utoe_model_op_output(i));
        }
#endif
        /* printing is not part of any operator's time */
        prev = utoe_platform_ticks();
        start += prev - now;
        if (r != 0 && ret == 0) {
            ret = r;
        }
    }
    *ticks = prev - start;
#else
    (void)trial;
    uint64_t start = utoe_platform_ticks();
    ret = utoe_model_run();
    *ticks = utoe_platform_ticks() - start;
#endif
    return ret;
}

int utoe_eval_main(void) {
    utoe_platform_init();
    utoe_platform_wait_start();
    uint64_t hz = utoe_platform_tick_hz();

    put_str("utoe: begin version=1 board=" UTOE_CONFIG_BOARD " model=" UTOE_CONFIG_MODEL " mode=" UTOE_MODE_NAME
            " trials=");
    put_u64(UTOE_CONFIG_TRIALS);
    put_str(" seed=");
    put_u64(UTOE_CONFIG_SEED);
    put_str(" ops=");
    put_u64(utoe_model_num_ops());
    put_str(" tick_hz=");
    put_u64(hz);
    put_str("\n" UTOE_BANNER "\n");

    int failed = 0;
    utoe_platform_stack_paint();
    for (unsigned t = 0; t < UTOE_CONFIG_TRIALS; t++) {
        uint64_t ticks = 0;
        int ret = run_trial(t, &ticks);
        put_str("trial: ");
        put_u64(t);
        put_str(", usec: ");
        put_u64(hz ? ticks * 1000000u / hz : 0u);
        put_str(", ret: ");
        put_i64(ret);
        put_str("\nutoe: trial index=");
        put_u64(t);
        put_str(" ticks=");
        put_u64(ticks);
        put_str(" ret=");
        put_i64(ret);
        put_str("\n");
        if (ret != 0 && failed == 0) {
            failed = ret;
        }
    }
    size_t stack = utoe_platform_stack_peak();
    put_str("Evaluation finished >\nutoe: stack peak_bytes=");
    put_u64(stack);
    put_str("\n");

    uint32_t h = 0x811C9DC5u;
    for (unsigned i = 0; i < utoe_model_num_outputs(); i++) {
        const utoe_tensor_info_t *o = utoe_model_output(i);
        const uint8_t *p = (const uint8_t *)o->data;
        for (uint32_t b = 0; b < o->bytes; b++) {
            h = (h ^ p[b]) * 0x01000193u;
        }
        put_tensor("output", i, o);
    }
    put_str("utoe: checksum fnv1a32=");
    put_hex32(h);
    if (failed) {
        put_str("\nutoe: end status=error code=");
        put_i64(failed);
        put_str("\n");
    } else {
        put_str("\nutoe: end status=ok\n");
    }
    return failed ? 1 : 0;
}
