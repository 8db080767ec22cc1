/*
 * console_proxy.h - the foreground `run` terminal (console_proxy.c).
 */
#ifndef VESSEL_CT_CONSOLE_PROXY_H
#define VESSEL_CT_CONSOLE_PROXY_H

#include <stdbool.h>
#include <sys/types.h>

#include "vessel/core/err.h"

/* Receive the pty master the container child sent over sock. */
int ct_console_recv_master(int sock, struct vs_err *err);
/* Copy stdin/stdout to/from master until pid exits (signals must be
 * blocked); stores the exit status (128+N for signal N). */
int ct_console_proxy(int master, pid_t pid, int *exit_status);

#endif
