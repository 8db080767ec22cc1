/*
 * spec.c - documents the runtime prints rather than reads: the features
 * document (runtime-spec 1.1 features.md) and a default config.json for
 * `spec` (the same shape runc and crun write, with a `--rootless` variant
 * that adds a user namespace mapping the caller to root and drops the
 * namespaces and mounts an unprivileged user cannot have).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/ct/container.h"

static const char features_json[] =
    "{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.1.0\","
    "\"hooks\":[\"prestart\",\"createRuntime\",\"createContainer\",\"startContainer\","
    "\"poststart\",\"poststop\"],"
    "\"mountOptions\":[\"async\",\"atime\",\"bind\",\"dev\",\"diratime\",\"dirsync\","
    "\"exec\",\"mand\",\"noatime\",\"nodev\",\"nodiratime\",\"noexec\",\"nomand\","
    "\"norelatime\",\"nostrictatime\",\"nosuid\",\"private\",\"rbind\",\"relatime\","
    "\"remount\",\"ro\",\"rprivate\",\"rshared\",\"rslave\",\"runbindable\",\"rw\","
    "\"shared\",\"slave\",\"strictatime\",\"suid\",\"sync\",\"tmpcopyup\",\"unbindable\"],"
    "\"linux\":{\"namespaces\":[\"cgroup\",\"ipc\",\"mount\",\"network\",\"pid\",\"time\","
    "\"user\",\"uts\"],"
    "\"capabilities\":[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_DAC_READ_SEARCH\","
    "\"CAP_FOWNER\",\"CAP_FSETID\",\"CAP_KILL\",\"CAP_SETGID\",\"CAP_SETUID\","
    "\"CAP_SETPCAP\",\"CAP_LINUX_IMMUTABLE\",\"CAP_NET_BIND_SERVICE\","
    "\"CAP_NET_BROADCAST\",\"CAP_NET_ADMIN\",\"CAP_NET_RAW\",\"CAP_IPC_LOCK\","
    "\"CAP_IPC_OWNER\",\"CAP_SYS_MODULE\",\"CAP_SYS_RAWIO\",\"CAP_SYS_CHROOT\","
    "\"CAP_SYS_PTRACE\",\"CAP_SYS_PACCT\",\"CAP_SYS_ADMIN\",\"CAP_SYS_BOOT\","
    "\"CAP_SYS_NICE\",\"CAP_SYS_RESOURCE\",\"CAP_SYS_TIME\",\"CAP_SYS_TTY_CONFIG\","
    "\"CAP_MKNOD\",\"CAP_LEASE\",\"CAP_AUDIT_WRITE\",\"CAP_AUDIT_CONTROL\","
    "\"CAP_SETFCAP\",\"CAP_MAC_OVERRIDE\",\"CAP_MAC_ADMIN\",\"CAP_SYSLOG\","
    "\"CAP_WAKE_ALARM\",\"CAP_BLOCK_SUSPEND\",\"CAP_AUDIT_READ\",\"CAP_PERFMON\","
    "\"CAP_BPF\",\"CAP_CHECKPOINT_RESTORE\"],"
    "\"cgroup\":{\"v1\":true,\"v2\":true,\"systemd\":false,\"systemdUser\":false},"
    "\"seccomp\":{\"enabled\":true,\"actions\":[\"SCMP_ACT_ALLOW\",\"SCMP_ACT_ERRNO\","
    "\"SCMP_ACT_KILL\",\"SCMP_ACT_KILL_PROCESS\",\"SCMP_ACT_KILL_THREAD\",\"SCMP_ACT_LOG\","
    "\"SCMP_ACT_TRACE\",\"SCMP_ACT_TRAP\"],\"operators\":[\"SCMP_CMP_EQ\",\"SCMP_CMP_GE\","
    "\"SCMP_CMP_GT\",\"SCMP_CMP_LE\",\"SCMP_CMP_LT\",\"SCMP_CMP_MASKED_EQ\",\"SCMP_CMP_NE\"],"
    "\"archs\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X32\","
    "\"SCMP_ARCH_AARCH64\",\"SCMP_ARCH_ARM\",\"SCMP_ARCH_RISCV64\"]},"
    "\"apparmor\":{\"enabled\":false},\"selinux\":{\"enabled\":false}},"
    "\"annotations\":{\"org.opencontainers.runtime-spec.features\":\"vessel-runtime\"}}";

static const char default_spec[] =
    "{\"ociVersion\":\"1.1.0\","
    "\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
    "\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
    "\"TERM=xterm\"],\"cwd\":\"/\","
    "\"capabilities\":{\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\","
    "\"CAP_NET_BIND_SERVICE\"],\"effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\","
    "\"CAP_NET_BIND_SERVICE\"],\"permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\","
    "\"CAP_NET_BIND_SERVICE\"],\"ambient\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\","
    "\"CAP_NET_BIND_SERVICE\"]},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
    "\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"vessel\","
    "\"mounts\":["
    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
    "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
    "\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\""
    "GIDOPT]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
    "{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
    "SYSMOUNT"
    "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
    "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
    "\"linux\":{USERNS"
    "\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\","
    "\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\","
    "\"/proc/sched_debug\",\"/sys/firmware\",\"/proc/scsi\"],"
    "\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
    "\"/proc/sysrq-trigger\"],"
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
    "{\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"cgroup\"}NSUSER]}}";

/* Replace every placeholder in text (small documents, done once). */
static char *subst(const char *text, const char *const (*pairs)[2], size_t npairs)
{
	size_t cap = strlen(text) + 1;
	for (size_t i = 0; i < npairs; i++)
		cap += strlen(pairs[i][1]);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	char *w = out;
	for (const char *p = text; *p;) {
		bool hit = false;
		for (size_t i = 0; i < npairs && !hit; i++) {
			size_t kl = strlen(pairs[i][0]);
			if (strncmp(p, pairs[i][0], kl) == 0) {
				size_t vl = strlen(pairs[i][1]);
				memcpy(w, pairs[i][1], vl);
				w += vl;
				p += kl;
				hit = true;
			}
		}
		if (!hit)
			*w++ = *p++;
	}
	*w = 0;
	return out;
}

char *ct_features_json(void)
{
	struct json_object *o = json_tokener_parse(features_json);
	if (!o)
		return NULL;
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
	return s;
}

char *ct_default_spec_json(bool rootless)
{
	char userns[256];
	snprintf(userns, sizeof(userns),
		 "\"uidMappings\":[{\"containerID\":0,\"hostID\":%u,\"size\":1}],"
		 "\"gidMappings\":[{\"containerID\":0,\"hostID\":%u,\"size\":1}],",
		 (unsigned)getuid(), (unsigned)getgid());
	const char *const pairs[][2] = {
		{ "GIDOPT", rootless ? "" : ",\"gid=5\"" },
		{ "SYSMOUNT",
		  rootless ? "{\"destination\":\"/sys\",\"type\":\"none\",\"source\":\"/sys\","
			     "\"options\":[\"rbind\",\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
			   : "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
			     "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]}," },
		{ "USERNS", rootless ? userns : "" },
		{ "NSUSER", rootless ? ",{\"type\":\"user\"}" : "" },
	};
	char *raw = subst(default_spec, pairs, sizeof(pairs) / sizeof(pairs[0]));
	if (!raw)
		return NULL;
	struct json_object *o = json_tokener_parse(raw);
	free(raw);
	if (!o)
		return NULL;
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}
