/* platform/baremetal.h - shared by the bare-metal platforms (baremetal.c). */
#ifndef UTOE_BAREMETAL_H
#define UTOE_BAREMETAL_H

#include <stddef.h>
#include <stdint.h>

#include "utoe_platform.h"

/* From the generated link.ld. */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint8_t __stack_top[], __stack_limit[];

/* Provided by each architecture's file. */
int utoe_semihost(int op, const void *arg);
uint8_t *utoe_stack_pointer(void);

/* Provided by baremetal.c. */
void utoe_baremetal_start(void); /* copy .data, zero .bss */
void utoe_baremetal_console_open(void);
void utoe_baremetal_put(const char *s);
void utoe_baremetal_put_hex(uint32_t v);

#endif /* UTOE_BAREMETAL_H */
