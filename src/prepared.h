/* prepared.h - protocol-level named prepared statements in transaction and statement mode
 *
 * A client's named Parse is remembered in the client's map (its name -> one
 * worker-wide statement per distinct text and parameter types).  On the
 * server side each statement has a pgring-wide name, PGRING_<id>, and each
 * server connection keeps the set of those it has prepared (at most
 * max_prepared_statements, least recently used out first).  A Bind or
 * Describe naming a statement the paired server lacks gets a Parse sent
 * ahead of it.  Every request sent to the server is queued, so that the
 * responses pgring must drop (to its own Parse and Close) and those it must
 * make up (ParseComplete for a Parse the server already had, CloseComplete
 * for a Close it keeps) fall in their place in the response stream.
 *
 * pgring's view of a server's statements follows PostgreSQL's through
 * errors: requests that PostgreSQL skips up to the next Sync are undone,
 * newest first (a Close pgring queued to evict a statement keeps it until
 * its CloseComplete).  A pipeline sent before an earlier one's error is
 * known prepares what may or may not be there behind a Close of its name;
 * a client message whose answer depends on such an error waits for it.
 * Where pgring cannot know (a client's SQL DEALLOCATE, an error naming a
 * PGRING_ statement) the server is closed when the client releases it.
 *
 * The unnamed statement is followed outside session mode, whatever
 * max_prepared_statements says: each client's (its last Parse's body, once
 * it ran) is put on the server ahead of a Bind or Describe of it where the
 * server holds another (prepared.c, "the unnamed statement").
 *
 * Errors PostgreSQL would give (42P05 for a second Parse of a name, 53200
 * past max_client_prepared_bytes) come from the server itself, from a
 * request that fails the same way, so that the transaction aborts and the
 * skip to Sync is PostgreSQL's; pgring rewrites only the error's text.
 */
#ifndef PGRING_PREPARED_H
#define PGRING_PREPARED_H

#include <stdbool.h>
#include <stdint.h>

struct worker;
struct client;
struct server;
struct prep_registry;
struct prep_client;
struct prep_server;

/* At pairing: tracking is on for this pairing when the pool mode is not
 * session and max_prepared_statements > 0. */
void prep_link(struct server *sv);
/* The server goes back to the pool (or away): the request queue ends. */
void prep_unlink(struct server *sv);
/* A reset query ran (DISCARD ALL): the server has nothing prepared. */
void prep_server_forget(struct server *sv);
/* pgring sent the server a query of its own: a simple Query (gone: the
 * server's unnamed statement is dropped), or one that used the unnamed
 * statement (auth_query: which one it holds is unknown) */
void prep_server_unnamed(struct server *sv, bool gone);

/* What the client's conn does with a message, prep_client_header() says */
enum prep_verdict {
	PREP_FORWARD = 0,	/* untouched */
	PREP_CONSUME,		/* gathered for prep_client_message() */
	PREP_DROP,		/* answered or replaced already: drop the body */
	PREP_REPLACE_HEAD,	/* its header and names went rewritten (the count
				 * in cl->c.fwd_skip): the rest of the body streams */
	PREP_CLOSED,		/* out of memory: the client has been failed */
};

/* A client message header, after the pool's accounting.  Bind, Describe
 * and Close are rewritten here, from the body's first bytes, without
 * gathering the rest; a named Parse is gathered (its text is remembered). */
enum prep_verdict prep_client_header(struct client *cl, uint8_t type);
/* Before anything else is done with a client message: whether it must wait
 * until the server has answered the pipelines sent before it (it names a
 * statement whose Parse or Close is in one of them, and whether that ran
 * decides PostgreSQL's answer).  The client is processed again then. */
bool prep_client_must_wait(struct client *cl, uint8_t type);
/* A consumed Parse, Bind, Describe or Close; false if the client was closed. */
bool prep_client_message(struct client *cl, uint8_t type, const uint8_t *body, uint32_t len);

/* A server message header: 0 forward, 1 forward and pass the message to
 * prep_server_message(), 2 drop (a response to pgring's own request), 3
 * pass it to prep_server_message() only (an error pgring rewrites). */
int prep_server_header(struct server *sv, uint8_t type);
void prep_server_message(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len);

void prep_client_free(struct client *cl);
void prep_server_free(struct server *sv);
void prep_registry_free(struct worker *w);

/* For SHOW CLIENTS / SHOW SERVERS: statements known to each */
unsigned prep_client_count(const struct client *cl);
unsigned prep_server_count(const struct server *sv);

/* pgring no longer knows which statements the server holds (a client's SQL
 * DEALLOCATE, an error naming a PGRING_ statement): it must not serve
 * another client; server_release() closes it. */
bool prep_server_lost(const struct server *sv);

/* For SHOW MEM: the worker's distinct statements and the clients' names */
struct prep_mem {
	size_t stmts, stmt_bytes;
	size_t names, name_bytes;
};
void prep_mem_usage(const struct worker *w, struct prep_mem *m);

#endif
