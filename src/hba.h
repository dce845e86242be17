/* hba.h - PgBouncer's dialect of pg_hba.conf and pg_ident.conf: the parser and pure matchers
 *
 * A struct hba is built once by hba_load() and never changed after; the
 * config snapshot holds a reference (hba_ref/hba_unref), so a clone made by
 * SET shares it and a reload that fails to read the files can keep it.
 */
#ifndef PGRING_HBA_H
#define PGRING_HBA_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hba_type {
	HBA_LOCAL = 0,
	HBA_HOST,
	HBA_HOSTSSL,
	HBA_HOSTNOSSL,
};

enum hba_method {
	HBA_TRUST = 0,
	HBA_REJECT,
	HBA_PASSWORD,
	HBA_MD5,
	HBA_SCRAM,
	HBA_PEER,
	HBA_CERT,
};

/* A database or user column: keywords, then names (from the line and @files) */
struct hba_names {
	bool all;
	bool sameuser;		/* database column only */
	bool replication;	/* database column only: physical replication */
	char **names;
	size_t n;
};

struct hba_rule {
	const char *file;	/* owned by hba.files */
	int line;
	enum hba_type type;
	struct hba_names db, user;
	bool addr_all;		/* "all" in the address column */
	int family;		/* AF_INET / AF_INET6 for host* lines */
	uint8_t addr[16], mask[16];	/* addr already masked */
	enum hba_method method;
	char *map;		/* map= of peer and cert, or NULL */
};

/* One pg_ident.conf line: MAPNAME SYSTEM-USERNAME DATABASE-USERNAME */
struct ident_entry {
	const char *file;
	int line;
	char *map;
	char *sys;		/* the name, or the regular expression without its '/' */
	bool is_regex;
	regex_t re;
	char *pg;		/* may hold \1 when sys is a regex */
	bool pg_all;		/* the keyword all: any database user */
};

struct hba {
	struct hba_rule *rules;
	size_t nrules;
	struct ident_entry *idents;
	size_t nidents;
	char **files;		/* every file read: hba, @files, ident */
	size_t nfiles;
	int refs;
};

/* What a rule is matched against */
struct hba_client {
	int family;		/* AF_UNIX, AF_INET or AF_INET6 */
	const uint8_t *ip;	/* 4 or 16 bytes; unused for AF_UNIX */
	bool tls;
	bool physical_repl;	/* replication=true: only the keyword replication matches */
	const char *db;
	const char *user;
};

/*
 * Reads the hba file (and the @files it names, relative to its directory)
 * and, if ident_path is not NULL or "", the ident file.  0 and *out set
 * (refs 1), or -1 with "file:line: what" in err and nothing allocated.
 */
int hba_load(const char *hba_path, const char *ident_path, struct hba **out, char *err,
	     size_t errlen);
struct hba *hba_ref(struct hba *hba);
void hba_unref(struct hba *hba);

/* The first rule that matches, as PostgreSQL decides; NULL: none does. */
const struct hba_rule *hba_match(const struct hba *hba, const struct hba_client *cl);

/*
 * Whether map lets the system user sys log in as the database user pg:
 * the first line of map whose system user matches (exactly, or the regex,
 * with \1 in the database user replaced by its first group) and whose
 * database user is pg or all.
 */
bool hba_ident_match(const struct hba *hba, const char *map, const char *sys, const char *pg);

const char *hba_method_name(enum hba_method m);

/* Whether any rule of hba (NULL: none) names method m */
bool hba_has_method(const struct hba *hba, enum hba_method m);

#endif
