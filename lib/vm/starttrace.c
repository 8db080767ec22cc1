/*
 * starttrace.c - marks on a VMM's way from exec to the guest's first
 * console byte (VESSEL_START_TRACE=FILE, starttrace.h).
 *
 * Restore to running is a few milliseconds, too short for a profiler's
 * samples and spread over exec, the VMM's set-up and the guest's cold
 * code.  Each mark keeps CLOCK_MONOTONIC, the process's CPU time and its
 * minor faults (getrusage: CPU time is exact in sum, page faults are what
 * a virtualized host makes expensive); the last mark writes them all to
 * FILE in one write, one line per mark:
 *
 *     MARK ms-since-t0 cpu-ms faults
 *
 * t0 is VESSEL_START_TRACE_T0 (CLOCK_MONOTONIC in ns, taken by whoever
 * spawned the VMM, just before fork) when given, else the first mark; the
 * first mark's CPU and faults are then those of exec and the C library's
 * start-up.  A run ends with "end".
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vessel/vm/starttrace.h"

#define MARKS_MAX 16

static struct start_mark {
	const char *what;
	long long ns, cpu_us;
	long faults;
} marks[MARKS_MAX];
static unsigned nmarks;
static int state; /* 0: not looked at the environment yet, 1: tracing, -1: off */
static const char *trace_path;
static long long t0_ns = -1;

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static bool start_trace_on(void)
{
	if (state == 0) {
		trace_path = getenv("VESSEL_START_TRACE");
		state = trace_path && *trace_path ? 1 : -1;
		const char *t0 = getenv("VESSEL_START_TRACE_T0");
		if (t0)
			t0_ns = atoll(t0);
	}
	return state > 0;
}

static void start_trace_write(void)
{
	char buf[MARKS_MAX * 64 + 8];
	size_t len = 0;
	long long t0 = t0_ns >= 0 ? t0_ns : marks[0].ns;
	for (unsigned i = 0; i < nmarks; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s %.3f %.3f %ld\n",
					marks[i].what, (double)(marks[i].ns - t0) / 1e6,
					(double)marks[i].cpu_us / 1e3, marks[i].faults);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "end\n");
	int fd = open(trace_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, buf, len);
		close(fd);
	}
}

static void start_mark(const char *what, bool last)
{
	if (!start_trace_on())
		return;
	if (nmarks < MARKS_MAX) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		marks[nmarks++] = (struct start_mark){
			.what = what,
			.ns = now_ns(),
			.cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
				  ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
			.faults = ru.ru_minflt + ru.ru_majflt,
		};
	}
	if (last) {
		start_trace_write();
		state = -1;
	}
}

void vm_start_mark(const char *what)
{
	start_mark(what, false);
}

void vm_start_mark_last(const char *what)
{
	start_mark(what, true);
}
