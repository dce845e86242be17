/* pqtool.c - the small libpq client the integration scenarios drive pgring with */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <libpq-fe.h>

/*
 * Usage: pqtool CONNINFO COMMAND [ARGS...]
 *
 *   query SQL...               run each statement in order on one connection,
 *                              print result rows tab-separated (NULL as \N)
 *   txstatus SQL...            as query, then print "txstatus: idle|intrans|
 *                              inerror|active|unknown" as libpq sees it
 *   expect-error SQL|connect SUBSTRING
 *                              succeed when the connection (or SQL) fails with a
 *                              message containing SUBSTRING; print the message
 *   copy-in TABLE|COPY-SQL FILE    stream FILE into COPY ... FROM STDIN
 *   copy-out SQL FILE          stream COPY ... TO STDOUT into FILE
 *   stream SQL [STALL_MS]      single-row mode: count rows and value bytes without
 *                              holding the result; stall once after the first row
 *                              so a pooler without backpressure would have to buffer
 *   sleep-in-txn SQL           BEGIN; SQL; print "in transaction"; sleep (to be killed)
 *
 * The scenarios tell outcomes apart by exit status, so these stay stable.
 */
enum {
	EX_DONE = 0,		/* did what was asked */
	EX_DB = 1,		/* the server or the pooler refused: connect or query error */
	EX_USAGE = 2,
	EX_LOCAL = 3,		/* local trouble: files, memory */
	EX_UNEXPECTED = 4,	/* expect-error: no error, or another message */
};

#define COPY_CHUNK 65536
#define SLEEP_CAP_S 600		/* a forgotten sleep-in-txn still ends */

static int usage(void)
{
	fputs("usage: pqtool CONNINFO query|txstatus SQL...\n"
	      "       pqtool CONNINFO expect-error SQL|connect SUBSTRING\n"
	      "       pqtool CONNINFO copy-in TABLE|COPY-SQL FILE\n"
	      "       pqtool CONNINFO copy-out SQL FILE\n"
	      "       pqtool CONNINFO stream SQL [STALL_MS]\n"
	      "       pqtool CONNINFO sleep-in-txn SQL\n", stderr);
	return EX_USAGE;
}

static PGconn *connect_or_report(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);

	if (!conn) {
		fputs("pqtool: out of memory\n", stderr);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pqtool: connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

static void print_rows(const PGresult *res)
{
	int rows = PQntuples(res), cols = PQnfields(res);

	for (int r = 0; r < rows; r++) {
		for (int c = 0; c < cols; c++) {
			if (c)
				putchar('\t');
			fputs(PQgetisnull(res, r, c) ? "\\N" : PQgetvalue(res, r, c), stdout);
		}
		putchar('\n');
	}
}

/* 0 when every statement succeeded; rows go to stdout, errors to stderr */
static int run_statements(PGconn *conn, int n, char **sql)
{
	for (int i = 0; i < n; i++) {
		PGresult *res = PQexec(conn, sql[i]);
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_TUPLES_OK) {
			print_rows(res);
		} else if (st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) {
			fprintf(stderr, "pqtool: %s: %s", sql[i],
				res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

static const char *txstatus_name(PGTransactionStatusType t)
{
	switch (t) {
	case PQTRANS_IDLE:
		return "idle";
	case PQTRANS_INTRANS:
		return "intrans";
	case PQTRANS_INERROR:
		return "inerror";
	case PQTRANS_ACTIVE:
		return "active";
	default:
		return "unknown";
	}
}

static int cmd_query(PGconn *conn, int argc, char **argv, bool show_tx)
{
	if (argc < 1)
		return usage();
	if (run_statements(conn, argc, argv) < 0)
		return EX_DB;
	if (show_tx)
		printf("txstatus: %s\n", txstatus_name(PQtransactionStatus(conn)));
	return EX_DONE;
}

static int match_error(const char *msg, const char *want)
{
	fputs(msg, stdout);
	if (msg[0] && msg[strlen(msg) - 1] != '\n')
		putchar('\n');
	if (strstr(msg, want))
		return EX_DONE;
	fprintf(stderr, "pqtool: error message lacks \"%s\"\n", want);
	return EX_UNEXPECTED;
}

/* Runs before any connection exists: a refused login is the expected outcome */
static int cmd_expect_error(const char *conninfo, int argc, char **argv)
{
	PGconn *conn;
	PGresult *res;
	int rc;

	if (argc != 2)
		return usage();
	conn = PQconnectdb(conninfo);
	if (!conn)
		return EX_LOCAL;
	if (PQstatus(conn) != CONNECTION_OK) {
		rc = match_error(PQerrorMessage(conn), argv[1]);
		PQfinish(conn);
		return rc;
	}
	if (strcmp(argv[0], "connect") == 0) {
		fputs("pqtool: connected, but an error was expected\n", stderr);
		PQfinish(conn);
		return EX_UNEXPECTED;
	}
	res = PQexec(conn, argv[0]);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		fputs("pqtool: statement succeeded, but an error was expected\n", stderr);
		rc = EX_UNEXPECTED;
		break;
	default:
		rc = match_error(res ? PQresultErrorMessage(res) : PQerrorMessage(conn), argv[1]);
		break;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* Drains the results after COPY; 0 if the last one says the command completed */
static int finish_command(PGconn *conn, const char *what)
{
	PGresult *res;
	int rc = 0;

	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pqtool: %s: %s", what, PQresultErrorMessage(res));
			rc = -1;
		} else {
			printf("%s\n", PQcmdStatus(res));
		}
		PQclear(res);
	}
	return rc;
}

static int cmd_copy_in(PGconn *conn, int argc, char **argv)
{
	char sql[1024], *buf;
	PGresult *res;
	FILE *f;
	size_t n;
	int rc = EX_DONE;

	if (argc != 2)
		return usage();
	if (strncasecmp(argv[0], "copy ", 5) == 0)
		snprintf(sql, sizeof(sql), "%s", argv[0]);
	else if ((size_t)snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", argv[0]) >= sizeof(sql))
		return usage();
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return EX_LOCAL;
	}
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		fclose(f);
		return EX_LOCAL;
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fprintf(stderr, "pqtool: %s: %s", sql, PQresultErrorMessage(res));
		PQclear(res);
		rc = EX_DB;
		goto out;
	}
	PQclear(res);
	while ((n = fread(buf, 1, COPY_CHUNK, f)) > 0) {
		if (PQputCopyData(conn, buf, (int)n) != 1) {
			fprintf(stderr, "pqtool: copy data: %s", PQerrorMessage(conn));
			rc = EX_DB;
			goto out;
		}
	}
	if (ferror(f)) {
		perror(argv[1]);
		PQputCopyEnd(conn, "pqtool could not read its input");
		finish_command(conn, sql);
		rc = EX_LOCAL;
		goto out;
	}
	if (PQputCopyEnd(conn, NULL) != 1 || finish_command(conn, sql) < 0)
		rc = EX_DB;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int cmd_copy_out(PGconn *conn, int argc, char **argv)
{
	long long total = 0;
	PGresult *res;
	FILE *f;
	char *buf;
	int n, rc = EX_DONE;

	if (argc != 2)
		return usage();
	f = fopen(argv[1], "wb");
	if (!f) {
		perror(argv[1]);
		return EX_LOCAL;
	}
	res = PQexec(conn, argv[0]);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		fprintf(stderr, "pqtool: %s: %s", argv[0], PQresultErrorMessage(res));
		PQclear(res);
		fclose(f);
		return EX_DB;
	}
	PQclear(res);
	while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
		if (fwrite(buf, 1, (size_t)n, f) != (size_t)n && rc == EX_DONE) {
			perror(argv[1]);
			rc = EX_LOCAL;	/* keep draining so the connection ends cleanly */
		}
		total += n;
		PQfreemem(buf);
	}
	if (n == -2) {
		fprintf(stderr, "pqtool: copy out: %s", PQerrorMessage(conn));
		rc = EX_DB;
	}
	if (finish_command(conn, argv[0]) < 0 && rc == EX_DONE)
		rc = EX_DB;
	if (fclose(f) != 0 && rc == EX_DONE) {
		perror(argv[1]);
		rc = EX_LOCAL;
	}
	if (rc == EX_DONE)
		printf("bytes=%lld\n", total);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static long long row_bytes(const PGresult *res)
{
	long long bytes = 0;

	for (int c = 0; c < PQnfields(res); c++)
		bytes += PQgetlength(res, 0, c);
	return bytes;
}

static int cmd_stream(PGconn *conn, int argc, char **argv)
{
	long long rows = 0, bytes = 0;
	long stall_ms = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	PGresult *res;
	int rc = EX_DB;

	if (argc < 1 || argc > 2 || stall_ms < 0)
		return usage();
	if (!PQsendQuery(conn, argv[0]) || !PQsetSingleRowMode(conn)) {
		fprintf(stderr, "pqtool: stream: %s", PQerrorMessage(conn));
		return EX_DB;
	}
	while ((res = PQgetResult(conn)) != NULL) {
		switch (PQresultStatus(res)) {
		case PGRES_SINGLE_TUPLE:
			rows++;
			bytes += row_bytes(res);
			if (rows == 1 && stall_ms)
				sleep_ms(stall_ms);
			break;
		case PGRES_TUPLES_OK:
			rc = EX_DONE;	/* the empty result that closes single-row mode */
			break;
		default:
			fprintf(stderr, "pqtool: stream: %s", PQresultErrorMessage(res));
			rc = EX_DB;
			break;
		}
		PQclear(res);
	}
	printf("rows=%lld bytes=%lld\n", rows, bytes);
	return rc;
}

static int cmd_sleep_in_txn(PGconn *conn, int argc, char **argv)
{
	char begin[] = "BEGIN";
	char *sql[2] = { begin, NULL };

	if (argc != 1)
		return usage();
	sql[1] = argv[0];
	if (run_statements(conn, 2, sql) < 0)
		return EX_DB;
	printf("in transaction\n");
	fflush(stdout);
	for (int i = 0; i < SLEEP_CAP_S; i++)
		sleep_ms(1000);
	return EX_LOCAL;
}

int main(int argc, char **argv)
{
	const char *cmd;
	PGconn *conn;
	int rc;

	if (argc < 3)
		return usage();
	cmd = argv[2];
	if (strcmp(cmd, "expect-error") == 0)
		return cmd_expect_error(argv[1], argc - 3, argv + 3);
	if (strcmp(cmd, "query") && strcmp(cmd, "txstatus") && strcmp(cmd, "copy-in") &&
	    strcmp(cmd, "copy-out") && strcmp(cmd, "stream") && strcmp(cmd, "sleep-in-txn"))
		return usage();
	conn = connect_or_report(argv[1]);
	if (!conn)
		return EX_DB;
	if (strcmp(cmd, "query") == 0 || strcmp(cmd, "txstatus") == 0)
		rc = cmd_query(conn, argc - 3, argv + 3, cmd[0] == 't');
	else if (strcmp(cmd, "copy-in") == 0)
		rc = cmd_copy_in(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "copy-out") == 0)
		rc = cmd_copy_out(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "stream") == 0)
		rc = cmd_stream(conn, argc - 3, argv + 3);
	else
		rc = cmd_sleep_in_txn(conn, argc - 3, argv + 3);
	PQfinish(conn);
	fflush(stdout);
	return rc;
}
