/*
 * create_internal.h - helpers create.c shares with lifecycle.c and exec.c.
 */
#ifndef VESSEL_CT_CREATE_INTERNAL_H
#define VESSEL_CT_CREATE_INTERNAL_H

#include <stddef.h>
#include <sys/un.h>

#include "vessel/ct/config.h"
#include "vessel/ct/state.h"

/* Address of ROOT/ID/start.sock reached through the locked dir fd. */
int ct_start_socket_addr(int dirfd, struct sockaddr_un *addr);
void ct_rfc3339_now(char *buf, size_t size);
/* With --debug, log "what at +N us" since the first mark. */
void ct_debug_mark(const char *what);
int ct_start_locked(int dirfd, struct ct_state *st, struct vs_err *err);
/* The config create parsed, as saved in the locked state dir (falls back to
 * BUNDLE/config.json for a container made before configs were saved). */
int ct_saved_config_load(int dirfd, const char *bundle, struct ct_config *cfg, struct vs_err *err);

#endif
