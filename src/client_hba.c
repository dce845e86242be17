/* client_hba.c - auth_type = hba at login: the rule that decides, peer and cert */
#include "client_hba.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "hba.h"
#include "proto.h"
#include "worker.h"

/* ---- refusals, in PostgreSQL's words ---- */

static void host_of(const struct client *cl, char *buf, size_t len)
{
	if (cl->c.addr.family == AF_UNIX)
		snprintf(buf, len, "[local]");
	else
		net_addr_text(&cl->c.addr, buf, len);
}

static void refuse(struct client *cl, const struct hba_rule *r)
{
	char host[NET_ADDR_TEXT];
	const char *enc = tls_active(&cl->c) ? "SSL encryption" : "no encryption";
	bool repl = cl->replication == REPL_PHYSICAL;

	host_of(cl, host, sizeof(host));
	if (r) {
		client_log(cl, LOG_LVL_LOG, "login refused by the hba rule at %s:%d (reject)", r->file,
			   r->line);
		client_fail(cl, "28000", "pg_hba.conf rejects %sconnection for host \"%s\", user \"%s\", "
			    "%s%s%s%s", repl ? "replication " : "", host, cl->user,
			    repl ? "" : "database \"", repl ? "" : cl->dbname, repl ? "" : "\", ", enc);
		return;
	}
	client_log(cl, LOG_LVL_LOG, "login refused: no hba rule matches");
	client_fail(cl, "28000", "no pg_hba.conf entry for %shost \"%s\", user \"%s\", %s%s%s%s",
		    repl ? "replication connection from " : "", host, cl->user,
		    repl ? "" : "database \"", repl ? "" : cl->dbname, repl ? "" : "\", ", enc);
}

/* ---- peer and cert: the name the OS or the certificate gives, or a map ---- */

/* r: the hba rule (its map=), or NULL for auth_type = cert: the name itself */
static bool name_allowed(const struct client *cl, const struct hba_rule *r, const char *name)
{
	if (r && r->map)
		return hba_ident_match(cl->c.w->cfg->hba, r->map, name, cl->user);
	return strcmp(name, cl->user) == 0;
}

static void name_refused(struct client *cl, const struct hba_rule *r, const char *what,
			 const char *name)
{
	const char *file = r ? r->file : "auth_type";
	int line = r ? r->line : 0;

	if (r && r->map)
		client_log(cl, LOG_LVL_LOG, "%s: no match in usermap \"%s\" for user \"%s\" authenticated "
			   "as \"%s\" (%s:%d)", what, r->map, cl->user, name, file, line);
	else
		client_log(cl, LOG_LVL_LOG, "%s: provided user name (%s) and authenticated user name (%s) "
			   "do not match (%s:%d)", what, cl->user, name, file, line);
}

/* The OS user at the other end of the unix socket (SO_PEERCRED) */
static bool peer_os_user(struct client *cl, char *name, size_t len)
{
	struct ucred uc;
	socklen_t ulen = sizeof(uc);
	struct passwd pw, *res = NULL;
	char buf[4096];
	int ret;

	++*loop_syscalls(cl->c.w->loop);
	if (getsockopt(cl->c.sock.fd, SOL_SOCKET, SO_PEERCRED, &uc, &ulen) < 0) {
		client_log(cl, LOG_LVL_LOG, "peer authentication: could not get peer credentials: %s",
			   strerror(errno));
		return false;
	}
	ret = getpwuid_r(uc.uid, &pw, buf, sizeof(buf), &res);
	if (ret != 0 || !res) {
		client_log(cl, LOG_LVL_LOG, "peer authentication: could not look up local user ID %ld: %s",
			   (long)uc.uid, ret ? strerror(ret) : "user does not exist");
		return false;
	}
	snprintf(name, len, "%s", pw.pw_name);
	return true;
}

static bool login_peer(struct client *cl, const struct hba_rule *r)
{
	char os_user[256] = "";

	if (cl->c.addr.family != AF_UNIX) {
		client_log(cl, LOG_LVL_LOG, "peer authentication over TCP (%s:%d)", r->file, r->line);
		client_fail(cl, "28000", "peer authentication is only supported on local sockets");
		return false;
	}
	if (peer_os_user(cl, os_user, sizeof(os_user)) && name_allowed(cl, r, os_user))
		return true;
	if (*os_user)
		name_refused(cl, r, "peer authentication failed", os_user);
	client_fail(cl, "28000", "Peer authentication failed for user \"%s\"", cl->user);
	return false;
}

/*
 * cert: the verified client certificate's CN is the role, or maps to it.
 * The log has PgBouncer's words for what was missing; the client gets
 * PostgreSQL's (a missing certificate is "connection requires a valid
 * client certificate", as with clientcert=verify-full).
 */
static bool login_cert(struct client *cl, const struct hba_rule *r)
{
	char cn[256];

	if (!tls_peer_cn(&cl->c, cn, sizeof(cn))) {
		client_log(cl, LOG_LVL_LOG, "certificate authentication (%s:%d): %s",
			   r ? r->file : "auth_type", r ? r->line : 0,
			   tls_active(&cl->c) ? "TLS client certificate required"
			   : "TLS connection required");
		client_fail(cl, "28000", "connection requires a valid client certificate");
		return false;
	}
	if (name_allowed(cl, r, cn))
		return true;
	name_refused(cl, r, "TLS certificate name mismatch", cn);
	client_fail(cl, "28000", "certificate authentication failed for user \"%s\"", cl->user);
	return false;
}

bool client_cert_login(struct client *cl)
{
	return login_cert(cl, NULL);
}

static const struct hba_rule *match(struct client *cl)
{
	const struct config *cfg = cl->c.w->cfg;
	struct hba_client hc = {
		.family = cl->c.addr.family,
		.ip = cl->c.addr.ip,
		.tls = tls_active(&cl->c),
		.physical_repl = cl->replication == REPL_PHYSICAL,
		.db = cl->dbname,
		.user = cl->user,
	};

	if (!cfg->hba)	/* SET auth_type = hba without a RELOAD to read the file */
		client_log(cl, LOG_LVL_WARNING, "auth_type = hba, but no hba file is loaded: RELOAD");
	return hba_match(cfg->hba, &hc);
}

bool client_hba_method(struct client *cl, int *auth_type)
{
	const struct hba_rule *r = match(cl);

	if (!r || r->method == HBA_REJECT) {
		refuse(cl, r);
		return false;
	}
	client_log(cl, LOG_LVL_DEBUG, "hba: %s by the rule at %s:%d", hba_method_name(r->method),
		   r->file, r->line);
	switch (r->method) {
	case HBA_TRUST:
		*auth_type = AUTH_TYPE_TRUST;
		return true;
	case HBA_PASSWORD:
		*auth_type = AUTH_TYPE_PLAIN;
		return true;
	case HBA_MD5:
		*auth_type = AUTH_TYPE_MD5;
		return true;
	case HBA_SCRAM:
		*auth_type = AUTH_TYPE_SCRAM;
		return true;
	case HBA_PEER:
		*auth_type = AUTH_TYPE_PEER;
		return login_peer(cl, r);
	case HBA_CERT:
		*auth_type = AUTH_TYPE_CERT;
		return login_cert(cl, r);
	case HBA_REJECT:
		break;
	}
	refuse(cl, r);
	return false;
}
