/*
 * network.h - managed networks: a Linux bridge with an IPv4 subnet, DHCP
 * and DNS from one dnsmasq process per network (Debian's dnsmasq-base),
 * and NAT by masquerading through nftables (or, isolated, no way out).
 * Instances join with a NIC whose MAC and address are chosen once and
 * recorded in the database (a stable lease); instances on one network
 * reach each other by name through the network's dnsmasq.
 *
 * Host objects of a network, all made by mgr_network_host_up and removed
 * by mgr_network_host_down:
 *   bridge      vbHHHHNNNNNN (HHHH: this state dir's host id, so that two
 *               vesselds never take each other's bridges for orphans)
 *   dnsmasq     one process, pid in STATE/networks/NAME/dnsmasq.pid, its
 *               hosts file and leases beside it
 *   nftables    table `ip vessel-BRIDGE` (masquerade, or the isolation rules)
 */
#ifndef VESSEL_MGR_NETWORK_H
#define VESSEL_MGR_NETWORK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"
#include "vessel/mgr/db.h"

struct mgr;

struct mgr_network {
	int64_t id;
	char name[64];
	char bridge[16];
	char subnet[24]; /* "10.123.45.0/24" */
	uint32_t net;	 /* host order */
	unsigned prefix;
	bool nat, isolated;
	char created_at[32];
};

struct mgr_nic {
	char name[16]; /* eth0 */
	char network[64];
	char bridge[16];
	char mac[18];
	char address[16];
	char gateway[16];
	unsigned prefix;
};

int mgr_network_subnet_parse(const char *cidr, uint32_t *net, unsigned *prefix, struct vs_err *err);
void mgr_ip_format(uint32_t ip, char out[16]);

int mgr_network_get(struct mgr_db *db, const char *name, struct mgr_network *n, struct vs_err *err);
int mgr_network_list(struct mgr_db *db, struct mgr_network **list, size_t *n, struct vs_err *err);

/* Create (row + host objects); subnet NULL picks a free 10.x.y.0/24. */
int mgr_network_create(struct mgr *m, const char *name, const char *subnet, bool nat, bool isolated,
		       struct vs_err *err);
/* Delete (EBUSY while an instance has a NIC on it). */
int mgr_network_delete(struct mgr *m, const char *name, struct vs_err *err);

/* Allocate a NIC for an instance (address, MAC) and record it, named
 * eth0, eth1, ... in the order of adding. */
int mgr_network_nic_add(struct mgr *m, int64_t instance_id, const char *network,
			struct vs_err *err);
/* The same with this MAC and address (a VM moved live keeps both; NULL:
 * chosen as above): EADDRINUSE/EADDRNOTAVAIL when the address is taken or
 * outside the network. */
int mgr_network_nic_add_fixed(struct mgr *m, int64_t instance_id, const char *network,
			      const char *mac, const char *address, struct vs_err *err);
/* The NICs of an instance (at most max). */
int mgr_network_nics(struct mgr *m, int64_t instance_id, struct mgr_nic *nics, size_t max,
		     size_t *n, struct vs_err *err);
/* Every NIC of every instance (instance ids in ids[i]), for listings. */
int mgr_network_all_nics(struct mgr *m, struct mgr_nic **nics, int64_t **ids, size_t *n,
			 struct vs_err *err);
/* Rewrite the DNS names of every network's instances and tell dnsmasq. */
void mgr_network_refresh_hosts(struct mgr *m);

/* Host side: make sure the bridge, dnsmasq and rules of n exist / are gone. */
int mgr_network_host_up(struct mgr *m, const struct mgr_network *n, struct vs_err *err);
int mgr_network_host_down(struct mgr *m, const struct mgr_network *n, struct vs_err *err);
/* At start: bring every network up; remove bridges and rules of ours that
 * belong to no network. */
int mgr_network_reconcile(struct mgr *m, struct vs_err *err);
/* In a cluster: make this host's networks those of the cluster database
 * (new ones made here, removed ones taken down unless an instance here
 * still uses them); called every second by the cluster's sync thread. */
int mgr_network_cluster_sync(struct mgr *m, struct vs_err *err);
/* When this host joins (or starts) a cluster: its networks into the
 * cluster's definition; EEXIST naming the first that the cluster defines
 * otherwise (the others are pushed). */
int mgr_network_cluster_push(struct mgr *m, struct vs_err *err);

/* Plug a NIC into a container's network namespace (pid: a process in it). */
int mgr_network_nic_attach(struct mgr *m, const struct mgr_nic *nic, const char *host_if, pid_t pid,
			   struct vs_err *err);

/* A VM's NIC: a persistent TAP device named tap on the NIC's bridge (the
 * VMM opens it; the guest takes the NIC's MAC and address); detach
 * removes it (nothing when it is gone). */
int mgr_network_tap_attach(struct mgr *m, const struct mgr_nic *nic, const char *tap,
			   struct vs_err *err);
void mgr_network_tap_detach(const char *tap);

#endif
