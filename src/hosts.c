/* hosts.c - host lists of [databases] entries, host health and the choice of the next host */
#include "hosts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next comma-separated element of *p into out (spaces around it
 * trimmed); false at the end of the string. */
static bool next_elem(const char **p, char *out, size_t outlen, bool *toolong)
{
	const char *s = *p, *e;
	size_t n;

	if (!s)
		return false;
	e = strchr(s, ',');
	n = e ? (size_t)(e - s) : strlen(s);
	*p = e ? e + 1 : NULL;
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	*toolong = n >= outlen;
	if (*toolong)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = 0;
	return true;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int parse_ports(const char *port, int *ports, int max, char *err, size_t errlen)
{
	const char *p = port;
	char elem[16];
	bool toolong;
	int n = 0;

	while (next_elem(&p, elem, sizeof(elem), &toolong)) {
		if (n == max) {
			snprintf(err, errlen, "more than %d ports in port", max);
			return -1;
		}
		if (toolong || parse_port(elem, &ports[n]) < 0) {
			snprintf(err, errlen, "invalid value \"%s\" for parameter port", port);
			return -1;
		}
		n++;
	}
	return n;
}

int hosts_parse(const char *host, const char *port, struct host_addr *out, int max, char *err,
		size_t errlen)
{
	int ports[HOSTS_MAX], np = 1, n = 0;
	const char *p = host;
	bool toolong;

	if (max > HOSTS_MAX)
		max = HOSTS_MAX;
	ports[0] = 5432;
	if (port && (np = parse_ports(port, ports, max, err, errlen)) < 0)
		return -1;
	if (!host) {
		out[0].name[0] = 0;	/* the unix socket */
		n = 1;
	}
	while (host && next_elem(&p, out[n].name, sizeof(out[n].name), &toolong)) {
		if (toolong) {
			snprintf(err, errlen, "host name too long in host");
			return -1;
		}
		if (!out[n].name[0]) {
			snprintf(err, errlen, "empty host name in host \"%s\"", host);
			return -1;
		}
		if (++n == max && p) {
			snprintf(err, errlen, "more than %d hosts in host", max);
			return -1;
		}
	}
	if (np != 1 && np != n) {
		snprintf(err, errlen, "port lists %d ports for %d hosts (give one port, or one per host)",
			 np, n);
		return -1;
	}
	for (int i = 0; i < n; i++)
		out[i].port = ports[np == 1 ? 0 : i];
	return n;
}

static const char *const lb_names[] = { "round-robin", "disable" };
static const char *const tsa_names[] = {
	"any", "read-write", "read-only", "primary", "standby", "prefer-standby",
};
static const char *const role_names[] = { "unknown", "primary", "primary (read-only)", "standby" };

static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

int hosts_lb_parse(const char *s)
{
	return name_index(s, lb_names, 2);
}

int hosts_tsa_parse(const char *s)
{
	return name_index(s, tsa_names, 6);
}

const char *hosts_lb_name(int lb)
{
	return lb >= 0 && lb < 2 ? lb_names[lb] : "?";
}

const char *hosts_tsa_name(int tsa)
{
	return tsa >= 0 && tsa < 6 ? tsa_names[tsa] : "?";
}

const char *hosts_role_name(int role)
{
	return role >= 0 && role < 4 ? role_names[role] : "?";
}

/* PostgreSQL reports booleans as "on" and "off" */
static int tri(const char *v)
{
	if (!v)
		return -1;
	return !strcmp(v, "on") ? 1 : !strcmp(v, "off") ? 0 : -1;
}

int hosts_role_of(const char *in_hot_standby, const char *default_read_only)
{
	int hs = tri(in_hot_standby), ro = tri(default_read_only);

	if (hs == 1)
		return HOSTS_ROLE_STANDBY;
	if (hs < 0 || ro < 0)
		return HOSTS_ROLE_UNKNOWN;	/* before PostgreSQL 14: not reported */
	return ro ? HOSTS_ROLE_PRIMARY_RO : HOSTS_ROLE_PRIMARY;
}

bool hosts_probe_needed(int tsa, int role)
{
	return tsa != HOSTS_TSA_ANY && role == HOSTS_ROLE_UNKNOWN;
}

/* transaction_read_only is on when either default_transaction_read_only or
 * hot standby is: with pg_is_in_recovery() it tells the three roles apart
 * as the two ParameterStatus do */
int hosts_role_probed(const char *tx_read_only, const char *in_recovery)
{
	int ro = tri(tx_read_only);

	if (in_recovery && !strcmp(in_recovery, "t"))
		return HOSTS_ROLE_STANDBY;
	if (!in_recovery || strcmp(in_recovery, "f") || ro < 0)
		return HOSTS_ROLE_UNKNOWN;
	return ro ? HOSTS_ROLE_PRIMARY_RO : HOSTS_ROLE_PRIMARY;
}

/* libpq's meanings (PostgreSQL 14+): read-write wants both off, read-only
 * either on; primary and standby look at in_hot_standby alone */
int hosts_match(int tsa, int role)
{
	bool standby = role == HOSTS_ROLE_STANDBY;

	if (tsa == HOSTS_TSA_ANY)
		return HOSTS_MATCH_YES;
	if (role == HOSTS_ROLE_UNKNOWN)
		return HOSTS_MATCH_NO;
	switch (tsa) {
	case HOSTS_TSA_READ_WRITE:
		return role == HOSTS_ROLE_PRIMARY ? HOSTS_MATCH_YES : HOSTS_MATCH_NO;
	case HOSTS_TSA_READ_ONLY:
		return role != HOSTS_ROLE_PRIMARY ? HOSTS_MATCH_YES : HOSTS_MATCH_NO;
	case HOSTS_TSA_PRIMARY:
		return standby ? HOSTS_MATCH_NO : HOSTS_MATCH_YES;
	case HOSTS_TSA_STANDBY:
		return standby ? HOSTS_MATCH_YES : HOSTS_MATCH_NO;
	case HOSTS_TSA_PREFER_STANDBY:
		return standby ? HOSTS_MATCH_YES : HOSTS_MATCH_FALLBACK;
	default:
		return HOSTS_MATCH_NO;
	}
}

struct host_state *hosts_state(struct hosts_table *t, const char *name, int port)
{
	struct host_state *s;

	for (s = t->head; s; s = s->next)
		if (s->port == port && !strcmp(s->name, name))
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->port = port;
	s->next = t->head;
	t->head = s;
	return s;
}

void hosts_table_free(struct hosts_table *t)
{
	while (t->head) {
		struct host_state *s = t->head;

		t->head = s->next;
		free(s);
	}
}

uint64_t hosts_backoff_us(unsigned fails, uint64_t cap_us)
{
	uint64_t b = HOSTS_BACKOFF_MIN_US;

	if (cap_us < HOSTS_BACKOFF_MIN_US)
		cap_us = HOSTS_BACKOFF_MIN_US;
	for (unsigned i = 1; i < fails && b < cap_us; i++)
		b *= 2;
	return b < cap_us ? b : cap_us;
}

/* Whether s may be tried now for tsa: HOSTS_MATCH_YES, _FALLBACK, or _NO
 * with *until set to when it may (0: not known) */
static int eligible(const struct host_state *s, int tsa, uint64_t now, uint64_t *until)
{
	int m;

	*until = 0;
	if (s->down && now < s->retry_at_us) {
		*until = s->retry_at_us;
		return HOSTS_MATCH_NO;
	}
	if (s->role == HOSTS_ROLE_UNKNOWN)
		return HOSTS_MATCH_YES;		/* its login will tell */
	m = hosts_match(tsa, s->role);
	if (m != HOSTS_MATCH_NO)
		return m;
	if (now < s->probe_at_us) {
		*until = s->probe_at_us;
		return HOSTS_MATCH_NO;
	}
	return HOSTS_MATCH_YES;		/* its role may have changed: probe it */
}

int hosts_pick(struct host_state *const *st, int n, unsigned *cursor, int lb, int tsa,
	       uint64_t now, uint64_t *wait_us)
{
	int chosen = -1, fallback = -1;
	uint64_t soonest = 0, until;

	for (int k = 0; k < n && chosen < 0; k++) {
		int i = (int)((*cursor + (unsigned)k) % (unsigned)n);
		int m = eligible(st[i], tsa, now, &until);

		if (m == HOSTS_MATCH_YES)
			chosen = i;
		else if (m == HOSTS_MATCH_FALLBACK && fallback < 0)
			fallback = i;
		else if (until && (!soonest || until < soonest))
			soonest = until;
	}
	if (chosen < 0)
		chosen = fallback;
	if (chosen < 0) {
		*wait_us = soonest > now ? soonest - now : 0;
		return -1;
	}
	*wait_us = 0;
	*cursor = (unsigned)chosen + (lb == HOSTS_LB_ROUND_ROBIN ? 1u : 0u);
	return chosen;
}

bool hosts_any_eligible(struct host_state *const *st, int n, int tsa, uint64_t now,
			const struct host_state *except, bool strict)
{
	uint64_t until;

	for (int i = 0; i < n; i++) {
		int m = st[i] == except ? HOSTS_MATCH_NO : eligible(st[i], tsa, now, &until);

		if (m == HOSTS_MATCH_YES || (m == HOSTS_MATCH_FALLBACK && !strict))
			return true;
	}
	return false;
}

static void probe_all(struct hosts_table *t)
{
	for (struct host_state *s = t->head; s; s = s->next) {
		s->probe_at_us = 0;
		s->mismatches = 0;
	}
}

bool hosts_mark_down(struct hosts_table *t, struct host_state *s, uint64_t now, uint64_t cap_us)
{
	bool changed = !s->down;

	s->down = true;
	s->fails++;
	s->retry_at_us = now + hosts_backoff_us(s->fails, cap_us);
	s->role = HOSTS_ROLE_UNKNOWN;	/* whatever it is when it comes back */
	if (changed)
		probe_all(t);
	return changed;
}

bool hosts_mark_up(struct hosts_table *t, struct host_state *s)
{
	bool changed = s->down;

	s->down = false;
	s->fails = 0;
	s->retry_at_us = 0;
	if (changed)
		probe_all(t);
	return changed;
}

void hosts_mark_mismatch(struct host_state *s, uint64_t now, uint64_t cap_us)
{
	s->mismatches++;
	s->probe_at_us = now + hosts_backoff_us(s->mismatches, cap_us);
}

bool hosts_set_role(struct host_state *s, int role, uint64_t now, uint64_t cap_us)
{
	if (s->role == role)
		return false;
	s->role = role;
	s->mismatches = 0;
	s->probe_at_us = now + hosts_backoff_us(1, cap_us);
	return true;
}
