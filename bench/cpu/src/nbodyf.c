/* nbodyf: nbody.c in single precision (fadd.s/fmul.s/fdiv.s/fsqrt.s). */
#define NBODY_FLOAT 1
#include "nbody.c"
