/* pqtool.c - the small libpq client the integration scenarios drive pgring with */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
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
	      "       pqtool CONNINFO xquery SQL...   (extended protocol)\n"
	      "       pqtool CONNINFO expect-error SQL|connect SUBSTRING\n"
	      "       pqtool CONNINFO copy-in TABLE|COPY-SQL FILE\n"
	      "       pqtool CONNINFO copy-out SQL FILE\n"
	      "       pqtool CONNINFO stream SQL [STALL_MS]\n"
	      "       pqtool CONNINFO sleep-in-txn SQL\n"
	      "       pqtool CONNINFO cancel MS SQL\n"
	      "       pqtool CONNINFO prepared rota N ROUNDS [GO_FILE] | prepared pipeline\n", stderr);
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

/* 0 when the statement succeeded; rows go to stdout, errors to stderr.  Every
 * result is read, so an error that comes just before the connection closes
 * (a pooler's FATAL, say) is printed along with the close. */
static int run_one_as(PGconn *conn, const char *sql, bool extended)
{
	PGresult *res;
	int rc = 0;
	int sent = extended ? PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0) :
			      PQsendQuery(conn, sql);

	if (!sent) {
		fprintf(stderr, "pqtool: %s: %s", sql, PQerrorMessage(conn));
		return -1;
	}
	while ((res = PQgetResult(conn))) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_TUPLES_OK) {
			print_rows(res);
		} else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
			fprintf(stderr, "pqtool: %s: COPY needs copy-in/copy-out\n", sql);
			PQclear(res);
			return -1;
		} else if (st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY) {
			fprintf(stderr, "pqtool: %s: %s", sql, PQresultErrorMessage(res));
			rc = -1;
		}
		PQclear(res);
	}
	if (rc == 0 && PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pqtool: %s: %s", sql, PQerrorMessage(conn));
		rc = -1;
	}
	return rc;
}

static int run_one(PGconn *conn, const char *sql)
{
	return run_one_as(conn, sql, false);
}

static int run_statements(PGconn *conn, int n, char **sql)
{
	for (int i = 0; i < n; i++)
		if (run_one(conn, sql[i]) < 0)
			return -1;
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

/* Each statement through the extended protocol (Parse/Bind/Execute/Sync), no simple Query */
static int cmd_xquery(PGconn *conn, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	for (int i = 0; i < argc; i++)
		if (run_one_as(conn, argv[i], true) < 0)
			return EX_DB;
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

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Runs SQL, sends a CancelRequest after MS milliseconds, and prints how long
 * the cancel took to end the query, and the error it ended with. */
/* N statements prepared once with PQprepare, then run in rota ROUNDS times,
 * each in its own transaction; prints how many server backends ran them. */
static int cmd_prepared_rota(PGconn *conn, int n, int rounds, const char *go_file)
{
	char name[32], sql[128], arg[16], pids[4096] = "";
	const char *params[1] = { arg };
	int backends = 0;

	for (int k = 0; k < n; k++) {
		PGresult *res;

		snprintf(name, sizeof(name), "rota_%d", k);
		snprintf(sql, sizeof(sql), "SELECT $1::int + %d, pg_backend_pid()", k * 1000);
		res = PQprepare(conn, name, sql, 1, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "pqtool: prepare %s: %s", name, PQresultErrorMessage(res));
			PQclear(res);
			return EX_DB;
		}
		PQclear(res);
	}
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < n; k++) {
			PGresult *res;
			char pid[24];

			snprintf(name, sizeof(name), "rota_%d", k);
			snprintf(arg, sizeof(arg), "%d", r);
			res = PQexecPrepared(conn, name, 1, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
			    atoi(PQgetvalue(res, 0, 0)) != r + k * 1000) {
				fprintf(stderr, "pqtool: round %d %s: %s", r, name,
					PQresultStatus(res) == PGRES_TUPLES_OK ? "wrong answer\n" :
					PQresultErrorMessage(res));
				PQclear(res);
				return EX_UNEXPECTED;
			}
			snprintf(pid, sizeof(pid), " %s ", PQgetvalue(res, 0, 1));
			if (!strstr(pids, pid) && strlen(pids) + strlen(pid) < sizeof(pids)) {
				strcat(pids, pid);
				backends++;
			}
			PQclear(res);
		}
		/* with a go file: after the first round, wait for it (the test
		 * replaces the servers meanwhile) */
		if (r == 0 && go_file) {
			printf("first round done\n");
			fflush(stdout);
			for (int i = 0; i < 300 && access(go_file, F_OK) != 0; i++)
				sleep_ms(100);
		}
	}
	printf("%d statements x %d rounds ok on %d backends\n", n, rounds, backends);
	return EX_DONE;
}

/* One pipeline: a named Parse, three Bind/Execute of it, a failing one, a
 * Sync; then the statement again after the error, DEALLOCATE ALL and a new
 * Parse under the same name, and a Sync.  Prints the results in order. */
static int cmd_prepared_pipeline(PGconn *conn)
{
	const char *one[1];
	PGresult *res;
	int syncs = 0, rc = EX_DONE;

	if (!PQenterPipelineMode(conn))
		return EX_DB;
	PQsendPrepare(conn, "pp", "SELECT 10 / $1::int", 1, NULL);
	one[0] = "1";
	PQsendQueryPrepared(conn, "pp", 1, one, NULL, NULL, 0);
	one[0] = "2";
	PQsendQueryPrepared(conn, "pp", 1, one, NULL, NULL, 0);
	one[0] = "0";
	PQsendQueryPrepared(conn, "pp", 1, one, NULL, NULL, 0);	/* division by zero */
	one[0] = "5";
	PQsendQueryPrepared(conn, "pp", 1, one, NULL, NULL, 0);	/* skipped: aborted */
	PQpipelineSync(conn);
	one[0] = "10";
	PQsendQueryPrepared(conn, "pp", 1, one, NULL, NULL, 0);
	PQsendQueryParams(conn, "DEALLOCATE ALL", 0, NULL, NULL, NULL, NULL, 0);
	PQsendPrepare(conn, "pp", "SELECT 100 + $1::int", 1, NULL);
	one[0] = "1";
	PQsendQueryPrepared(conn, "pp", 1, one, NULL, NULL, 0);
	PQpipelineSync(conn);
	if (PQflush(conn) < 0)
		return EX_DB;
	while (syncs < 2) {
		res = PQgetResult(conn);
		if (!res)
			continue;	/* the end of one query's results */
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC:
			printf("sync\n");
			syncs++;
			break;
		case PGRES_TUPLES_OK:
			printf("row %s\n", PQgetvalue(res, 0, 0));
			break;
		case PGRES_COMMAND_OK:
			printf("ok\n");
			break;
		case PGRES_PIPELINE_ABORTED:
			printf("aborted\n");
			break;
		case PGRES_FATAL_ERROR:
			printf("error %s\n", PQresultErrorField(res, PG_DIAG_SQLSTATE));
			if (PQstatus(conn) != CONNECTION_OK)
				rc = EX_DB, syncs = 2;
			break;
		default:
			printf("status %s\n", PQresStatus(PQresultStatus(res)));
			break;
		}
		PQclear(res);
	}
	PQexitPipelineMode(conn);
	return rc;
}

static int cmd_prepared(PGconn *conn, int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && strcmp(argv[0], "rota") == 0)
		return cmd_prepared_rota(conn, atoi(argv[1]), atoi(argv[2]), argc == 4 ? argv[3] : NULL);
	if (argc == 1 && strcmp(argv[0], "pipeline") == 0)
		return cmd_prepared_pipeline(conn);
	return usage();
}

static int cmd_cancel(PGconn *conn, int argc, char **argv)
{
	PGcancel *cancel;
	PGresult *res;
	char errbuf[256];
	double t0;
	int rc = EX_UNEXPECTED;

	if (argc != 2)
		return usage();
	if (!PQsendQuery(conn, argv[1])) {
		fprintf(stderr, "pqtool: send: %s", PQerrorMessage(conn));
		return EX_DB;
	}
	sleep_ms(atoi(argv[0]));
	cancel = PQgetCancel(conn);
	t0 = now_ms();
	if (!cancel || !PQcancel(cancel, errbuf, sizeof(errbuf))) {
		fprintf(stderr, "pqtool: cancel: %s\n", cancel ? errbuf : "no cancel object");
		PQfreeCancel(cancel);
		return EX_DB;
	}
	PQfreeCancel(cancel);
	/* PQcancel returns when the pooler closes the cancel connection */
	printf("cancel request done after %.0f ms\n", now_ms() - t0);
	while ((res = PQgetResult(conn))) {
		if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
			printf("cancelled after %.0f ms: %s", now_ms() - t0, PQresultErrorMessage(res));
			rc = EX_DONE;
		}
		PQclear(res);
	}
	if (rc != EX_DONE)
		fputs("pqtool: the query was not cancelled\n", stderr);
	return rc;
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
	    strcmp(cmd, "copy-out") && strcmp(cmd, "stream") && strcmp(cmd, "sleep-in-txn") &&
	    strcmp(cmd, "cancel") && strcmp(cmd, "prepared") && strcmp(cmd, "xquery"))
		return usage();
	conn = connect_or_report(argv[1]);
	if (!conn)
		return EX_DB;
	if (strcmp(cmd, "query") == 0 || strcmp(cmd, "txstatus") == 0)
		rc = cmd_query(conn, argc - 3, argv + 3, cmd[0] == 't');
	else if (strcmp(cmd, "xquery") == 0)
		rc = cmd_xquery(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "copy-in") == 0)
		rc = cmd_copy_in(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "copy-out") == 0)
		rc = cmd_copy_out(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "stream") == 0)
		rc = cmd_stream(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "prepared") == 0)
		rc = cmd_prepared(conn, argc - 3, argv + 3);
	else if (strcmp(cmd, "cancel") == 0)
		rc = cmd_cancel(conn, argc - 3, argv + 3);
	else
		rc = cmd_sleep_in_txn(conn, argc - 3, argv + 3);
	PQfinish(conn);
	fflush(stdout);
	return rc;
}
