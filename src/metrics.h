/* metrics.h - GET /metrics: the admin console's figures in Prometheus's text format */
#ifndef PGRING_METRICS_H
#define PGRING_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct worker;
struct config;

/*
 * metrics_listen = ADDR:PORT opens an HTTP endpoint on the worker's own
 * loop (libmicrohttpd without threads: its epoll fd is watched by a loop
 * poll op).  The figures are the rows of the console's SHOW tables, under
 * the names prometheus-community's pgbouncer_exporter gives them.
 */

/* Start-up and --check: the key's value is usable (an address, a port
 * other than listen_port).  0, or -1 with the reason in err. */
int metrics_check_config(const struct config *cfg, char *err, size_t errlen);
/* 0 when off or listening; -1 with a log line */
int metrics_start(struct worker *w);
/* at exit, before the drain: no more scrapes, the loop ops cancelled */
void metrics_stop(struct worker *w);
/* after the drain, before loop_free */
void metrics_free(struct worker *w);

/* ---- pure parts, unit-tested ---- */

/* "ADDR:PORT", "[V6ADDR]:PORT" or "*:PORT" (every IPv4 address) */
int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       char *err, size_t errlen);

/* What a request gets, from libmicrohttpd's method and path: 200 (GET
 * /metrics), 405 (another method) or 404.  The head's size and the body are
 * libmicrohttpd's to bound (METRICS_REQ_MAX, MHD_OPTION_CONNECTION_MEMORY_LIMIT). */
unsigned metrics_route(const char *method, const char *url);

/* A growing text; failed once an allocation failed or it grew past its cap. */
struct mtext {
	char *buf;
	size_t len, cap;
	size_t max;		/* 0: the default cap */
	bool failed;
};
void mtext_put(struct mtext *t, const char *s, size_t n);
void mtext_puts(struct mtext *t, const char *s);
void mtext_free(struct mtext *t);

/* A label value, escaped as the format wants (\\, \", \n); a byte that is
 * not UTF-8 becomes the text \xNN, so that the exposition stays valid. */
void metrics_label_value(struct mtext *t, const char *s);
/* A sample value from a console cell: NULL is NaN, a number is copied,
 * with micro, a count of microseconds becomes exact decimal seconds. */
void metrics_sample_value(struct mtext *t, const char *cell, bool micro);

/* One SHOW table's rows, as text. */
struct mtable {
	int ncols;
	char *names[32];
	char **cells;		/* nrows * ncols, NULL for SQL NULL */
	size_t nrows, cap;
	bool failed;
};
void mtable_add(void *arg, int ncols, const char *const *names, const char *const *vals);
void mtable_free(struct mtable *t);
/* The exposition of every family a SHOW table gives: what is the table
 * SHOW name ("stats", "pools", ...).  false: a table pgring does not map. */
bool metrics_render_table(struct mtext *out, const char *what, const struct mtable *t);
/* pgbouncer_up */
void metrics_render_up(struct mtext *out, bool up);

#endif
