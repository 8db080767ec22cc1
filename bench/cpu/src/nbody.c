/* nbody: double-precision floating point (fadd/fmul/fdiv/fsqrt), the
 * classic 5-body simulation (single precision when nbodyf.c includes it). */
#include "bench.h"

#ifndef NBODY_FLOAT
typedef double real;
#define FSQRT "fsqrt.d"
#else
typedef float real;
#define FSQRT "fsqrt.s"
#endif

#ifndef SCALE
#define SCALE 1
#endif
#define PI	   3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS	   365.24

struct body {
	real x, y, z, vx, vy, vz, m;
};

static struct body bodies[5] = {
	{ 0, 0, 0, 0, 0, 0, SOLAR_MASS },
	{ 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
	  1.66007664274403694e-03 * DAYS, 7.69901118419740425e-03 * DAYS,
	  -6.90460016972063023e-05 * DAYS, 9.54791938424326609e-04 * SOLAR_MASS },
	{ 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
	  -2.76742510726862411e-03 * DAYS, 4.99852801234917238e-03 * DAYS,
	  2.30417297573763929e-05 * DAYS, 2.85885980666130812e-04 * SOLAR_MASS },
	{ 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
	  2.96460137564761618e-03 * DAYS, 2.37847173959480950e-03 * DAYS,
	  -2.96589568540237556e-05 * DAYS, 4.36624404335156298e-05 * SOLAR_MASS },
	{ 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
	  2.68067772490389322e-03 * DAYS, 1.62824170038242295e-03 * DAYS,
	  -9.51592254519715870e-05 * DAYS, 5.15138902046611451e-05 * SOLAR_MASS },
};

static real sqrt_r(real x)
{
	real r;
	asm(FSQRT " %0, %1" : "=f"(r) : "f"(x));
	return r;
}

u64 bench_run(void)
{
	real dt = (real)0.01;
	for (long step = 0; step < 50000L * SCALE; step++) {
		for (int i = 0; i < 5; i++) {
			struct body *a = &bodies[i];
			for (int j = i + 1; j < 5; j++) {
				struct body *b = &bodies[j];
				real dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
				real d2 = dx * dx + dy * dy + dz * dz;
				real mag = dt / (d2 * sqrt_r(d2));
				a->vx -= dx * b->m * mag;
				a->vy -= dy * b->m * mag;
				a->vz -= dz * b->m * mag;
				b->vx += dx * a->m * mag;
				b->vy += dy * a->m * mag;
				b->vz += dz * a->m * mag;
			}
		}
		for (int i = 0; i < 5; i++) {
			bodies[i].x += dt * bodies[i].vx;
			bodies[i].y += dt * bodies[i].vy;
			bodies[i].z += dt * bodies[i].vz;
		}
	}
	union {
		real d;
		u64 u;
	} r = { .u = 0 };
	r.d = bodies[1].x;
	return r.u;
}
