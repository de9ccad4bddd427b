/*
 * Shortest round-trip formatting of doubles as JSON numbers: the C
 * library's correctly rounded digits (snprintf), the shortest that strtod()
 * reads back, in mreg's own fixed notation (see num.c). Formatting only:
 * no streams, no printing.
 */
#ifndef MREG_NUM_H
#define MREG_NUM_H
#include <stdbool.h>
#include <stddef.h>
#define MREG_NUM_MAX 32
/* Write the shortest decimal string that strtod() reads back as exactly v
 * into out (NUL-terminated, at most MREG_NUM_MAX bytes including NUL).
 * Returns the length, or -1 if v is NaN or infinite (JSON has no such numbers). */
int mreg_num_format(char out[MREG_NUM_MAX], double v);
/* True if v is a whole number a double holds exactly: |v| < 2^53. */
bool mreg_num_is_int(double v);
/* v, with negative zero turned into zero: for numbers shown to people and
 * numbers read from them, where -0 means nothing but prints as "-0". JSON
 * output keeps what is stored (mreg_num_format writes -0 as "-0"). */
double mreg_num_nz(double v);
#endif
