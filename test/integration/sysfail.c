/* sysfail.c - runs a program with some system calls refused: a seccomp filter
 * makes every call of the named ones fail with ERRNO, so that the scenarios
 * can see what pgring does when the kernel refuses its event loop.
 *
 * Usage: sysfail ERRNO SYSCALL[,SYSCALL...] PROGRAM ARGS...
 *
 *   ERRNO    EIO, EAGAIN, ENOMEM or a number
 *   SYSCALL  io_uring_enter, epoll_wait, epoll_pwait, epoll_pwait2 (names this
 *            architecture lacks are skipped; at least one must exist)
 *
 * Exits 2 on usage errors or where the filter cannot be installed, never runs
 * the program unfiltered.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

#define MAX_NRS 8

static const struct {
	const char *name;
	long nr;
} calls[] = {
#ifdef __NR_io_uring_enter
	{ "io_uring_enter", __NR_io_uring_enter },
#endif
#ifdef __NR_epoll_wait
	{ "epoll_wait", __NR_epoll_wait },
#endif
#ifdef __NR_epoll_pwait
	{ "epoll_pwait", __NR_epoll_pwait },
#endif
#ifdef __NR_epoll_pwait2
	{ "epoll_pwait2", __NR_epoll_pwait2 },
#endif
	{ NULL, -1 },
};

static const char *const known[] = { "io_uring_enter", "epoll_wait", "epoll_pwait", "epoll_pwait2" };

static int parse_errno(const char *s)
{
	if (!strcmp(s, "EIO"))
		return EIO;
	if (!strcmp(s, "EAGAIN"))
		return EAGAIN;
	if (!strcmp(s, "ENOMEM"))
		return ENOMEM;
	return atoi(s);
}

/* The numbers of the listed names; -1 for an unknown name. */
static int parse_calls(char *list, long *nrs)
{
	int n = 0;

	for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		int ok = 0;

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= !strcmp(name, known[i]);
		if (!ok) {
			fprintf(stderr, "sysfail: unknown system call %s\n", name);
			return -1;
		}
		for (int i = 0; calls[i].name; i++)
			if (!strcmp(name, calls[i].name) && n < MAX_NRS)
				nrs[n++] = calls[i].nr;
	}
	return n;
}

static int install(const long *nrs, int n, int err)
{
#ifdef ARCH
	struct sock_filter f[4 + 2 * MAX_NRS];
	struct sock_fprog prog;
	int k = 0;

	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	for (int i = 0; i < n; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						      SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)k;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "sysfail: installing the filter: %s\n", strerror(errno));
		return -1;
	}
	return 0;
#else
	(void)nrs;
	(void)n;
	(void)err;
	fprintf(stderr, "sysfail: no seccomp architecture constant for this machine\n");
	return -1;
#endif
}

int main(int argc, char **argv)
{
	long nrs[MAX_NRS];
	int err, n;

	if (argc < 4) {
		fputs("usage: sysfail ERRNO SYSCALL[,SYSCALL...] PROGRAM ARGS...\n", stderr);
		return 2;
	}
	err = parse_errno(argv[1]);
	n = parse_calls(argv[2], nrs);
	if (err <= 0 || err > 4095 || n <= 0) {
		fprintf(stderr, "sysfail: need an errno and at least one system call of this machine\n");
		return 2;
	}
	if (install(nrs, n, err) < 0)
		return 2;
	execvp(argv[3], argv + 3);
	fprintf(stderr, "sysfail: %s: %s\n", argv[3], strerror(errno));
	return 2;
}
