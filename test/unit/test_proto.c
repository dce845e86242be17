/* test_proto.c - unit tests for wire framing, message builders and readers */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Feeds bytes in pieces of 'step' and records the events. */
struct trace {
	int headers, bodies, bad;
	uint8_t types[64];
	uint32_t lens[64];
	size_t body_bytes;
};

static void feed(struct frame *f, const uint8_t *p, size_t len, size_t step, struct trace *t)
{
	size_t off = 0;

	while (off < len && !t->bad) {
		size_t n = len - off < step ? len - off : step, pos = 0;

		while (pos < n) {
			size_t used;
			enum frame_ev ev = frame_step(f, p + off + pos, n - pos, &used);

			ck_assert_uint_gt(used, 0);
			pos += used;
			if (ev == FRAME_BAD || ev == FRAME_TOO_LONG) {
				t->bad++;
				return;
			}
			if (ev == FRAME_HEADER) {
				t->types[t->headers] = f->type;
				t->lens[t->headers] = f->len;
				t->headers++;
			}
			if (ev == FRAME_BODY)
				t->body_bytes += used;
			if (frame_msg_done(f)) {
				t->bodies++;
				frame_next(f);
			}
		}
		off += n;
	}
}

static size_t three_messages(uint8_t *buf)
{
	struct pktbuf pb;
	size_t n;

	pkt_init(&pb);
	pkt_query(&pb, "select 1");	/* 'Q' body 9 */
	pkt_begin(&pb, 'S');		/* Sync, empty body */
	pkt_end(&pb);
	pkt_ready(&pb, 'I');		/* 'Z' body 1 */
	n = pb.len;
	memcpy(buf, pb.data, n);
	pkt_free(&pb);
	return n;
}

START_TEST(test_frame_every_split)
{
	uint8_t buf[64];
	size_t n = three_messages(buf);

	for (size_t step = 1; step <= n; step++) {
		struct frame f;
		struct trace t;

		memset(&t, 0, sizeof(t));
		frame_init(&f, false, 1 << 20);
		feed(&f, buf, n, step, &t);
		ck_assert_int_eq(t.bad, 0);
		ck_assert_int_eq(t.headers, 3);
		ck_assert_int_eq(t.types[0], 'Q');
		ck_assert_uint_eq(t.lens[0], 9);
		ck_assert_int_eq(t.types[1], 'S');
		ck_assert_uint_eq(t.lens[1], 0);
		ck_assert_int_eq(t.types[2], 'Z');
		ck_assert_uint_eq(t.lens[2], 1);
		ck_assert_uint_eq(t.body_bytes, 10);
	}
}
END_TEST

START_TEST(test_frame_partial_header)
{
	struct frame f;
	size_t used;
	const uint8_t p[] = { 'Q', 0, 0 };

	frame_init(&f, false, 100);
	ck_assert_int_eq(frame_step(&f, p, 3, &used), FRAME_PARTIAL);
	ck_assert_uint_eq(used, 3);
	ck_assert_uint_eq(f.have, 3);
	ck_assert(!f.in_body);
}
END_TEST

START_TEST(test_frame_bad_lengths)
{
	struct frame f;
	size_t used;
	const uint8_t short_len[] = { 'Q', 0, 0, 0, 3 };
	const uint8_t huge[] = { 'Q', 0x7f, 0xff, 0xff, 0xff };
	const uint8_t just_fits[] = { 'D', 0, 0, 0, 104 };

	frame_init(&f, false, 100);
	ck_assert_int_eq(frame_step(&f, short_len, 5, &used), FRAME_BAD);
	frame_init(&f, false, 100);
	ck_assert_int_eq(frame_step(&f, huge, 5, &used), FRAME_TOO_LONG);
	frame_init(&f, false, 100);
	ck_assert_int_eq(frame_step(&f, just_fits, 5, &used), FRAME_HEADER);
	ck_assert_uint_eq(f.len, 100);
}
END_TEST

START_TEST(test_frame_startup)
{
	struct frame f;
	struct pktbuf pb;
	struct startup_params sp;
	const char *why = NULL;
	size_t used, off = 0;
	enum frame_ev ev;

	pkt_init(&pb);
	pkt_begin(&pb, 0);
	pkt_u32(&pb, PROTO_V3);
	pkt_str(&pb, "user");
	pkt_str(&pb, "alice");
	pkt_str(&pb, "database");
	pkt_str(&pb, "shop");
	pkt_str(&pb, "application_name");
	pkt_str(&pb, "psql");
	pkt_u8(&pb, 0);
	pkt_end(&pb);

	frame_init(&f, true, PROTO_STARTUP_MAX);
	ev = frame_step(&f, pb.data, pb.len, &used);
	ck_assert_int_eq(ev, FRAME_HEADER);
	ck_assert_uint_eq(used, 4);
	ck_assert_uint_eq(f.len, pb.len - 4);
	off = used;
	ev = frame_step(&f, pb.data + off, pb.len - off, &used);
	ck_assert_int_eq(ev, FRAME_BODY);
	ck_assert(frame_msg_done(&f));

	ck_assert_int_eq(proto_parse_startup(pb.data + 4, pb.len - 4, &sp, &why), 0);
	ck_assert_str_eq(sp.user, "alice");
	ck_assert_str_eq(sp.database, "shop");
	ck_assert_int_eq(sp.n, 1);
	ck_assert_str_eq(startup_get(&sp, "application_name"), "psql");
	ck_assert_ptr_null(startup_get(&sp, "client_encoding"));
	pkt_free(&pb);
}
END_TEST

/* 3.2 with two _pq_. options: both listed, in order, in a 'v' that offers 3.0,
 * byte for byte what PostgreSQL 15 sends (the integration test compares live) */
START_TEST(test_startup_negotiate)
{
	struct pktbuf pb, out;
	struct startup_params sp;
	const char *why = NULL;
	static const uint8_t want[] = {
		'v', 0, 0, 0, 34, 0, 3, 0, 0, 0, 0, 0, 2,
		'_', 'p', 'q', '_', '.', 'a', 0,
		'_', 'p', 'q', '_', '.', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 'b', 0,
	};

	pkt_init(&pb);
	pkt_init(&out);
	pkt_begin(&pb, 0);
	pkt_u32(&pb, (3 << 16) | 2);
	pkt_str(&pb, "user");
	pkt_str(&pb, "alice");
	pkt_str(&pb, "_pq_.a");
	pkt_str(&pb, "1");
	pkt_str(&pb, "application_name");
	pkt_str(&pb, "psql");
	pkt_str(&pb, "_pq_.bbbbbbbbb");
	pkt_str(&pb, "");
	pkt_u8(&pb, 0);
	pkt_end(&pb);
	ck_assert_int_eq(proto_parse_startup(pb.data + 4, pb.len - 4, &sp, &why), 0);
	ck_assert_int_eq(sp.n, 1);	/* _pq_. options are not startup parameters */
	ck_assert_int_eq(sp.npq, 2);
	ck_assert(proto_needs_negotiation(&sp));
	pkt_negotiate_version(&out, &sp);
	ck_assert_uint_eq(out.len, sizeof(want));
	ck_assert_mem_eq(out.data, want, sizeof(want));

	/* 3.0 with no _pq_. option: nothing to negotiate */
	pkt_reset(&pb);
	pkt_begin(&pb, 0);
	pkt_u32(&pb, PROTO_V3);
	pkt_str(&pb, "user");
	pkt_str(&pb, "alice");
	pkt_u8(&pb, 0);
	pkt_end(&pb);
	ck_assert_int_eq(proto_parse_startup(pb.data + 4, pb.len - 4, &sp, &why), 0);
	ck_assert(!proto_needs_negotiation(&sp));
	/* 3.1 alone: negotiated, with an empty list */
	pb.data[7] = 1;
	ck_assert_int_eq(proto_parse_startup(pb.data + 4, pb.len - 4, &sp, &why), 0);
	ck_assert(proto_needs_negotiation(&sp));
	pkt_reset(&out);
	pkt_negotiate_version(&out, &sp);
	ck_assert_uint_eq(out.len, 13);
	ck_assert_uint_eq(out.data[4], 12);
	ck_assert_mem_eq(out.data + 5, "\0\3\0\0\0\0\0\0", 8);
	pkt_free(&pb);
	pkt_free(&out);
}
END_TEST

/* values of any length go out whole, quotes and backslashes doubled (F20:
 * they were cut near 2 KB) */
START_TEST(test_set_query_long)
{
	struct pktbuf pb;
	const char *names[2] = { "search_path", "application_name" };
	const char *vals[2];
	char *big = malloc(5001), *want = malloc(12000);
	struct msg_rd r;
	size_t n;

	for (int i = 0; i < 5000; i++)
		big[i] = i == 2500 ? '\'' : i == 4000 ? '\\' : (char)('a' + i % 26);
	big[5000] = 0;
	vals[0] = big;
	vals[1] = "it's";
	n = (size_t)sprintf(want, "SET search_path = E'");
	for (int i = 0; i < 5000; i++) {
		if (big[i] == '\'' || big[i] == '\\')
			want[n++] = big[i];
		want[n++] = big[i];
	}
	strcpy(want + n, "';SET application_name = E'it''s';");
	pkt_init(&pb);
	pkt_set_query(&pb, names, vals, 2);
	ck_assert(!pb.failed);
	ck_assert_uint_eq(pb.data[0], 'Q');
	rd_init(&r, pb.data + 5, pb.len - 5);
	ck_assert_str_eq(rd_str(&r), want);
	ck_assert_uint_eq(rd_left(&r), 0);
	pkt_free(&pb);
	free(big);
	free(want);
}
END_TEST

START_TEST(test_startup_oversized_and_tiny)
{
	struct frame f;
	size_t used;
	const uint8_t big[] = { 0, 0, 0x30, 0 };	/* 12288 > 10000 */
	const uint8_t tiny[] = { 0, 0, 0, 4 };

	frame_init(&f, true, PROTO_STARTUP_MAX);
	ck_assert_int_eq(frame_step(&f, big, 4, &used), FRAME_TOO_LONG);
	frame_init(&f, true, PROTO_STARTUP_MAX);
	ck_assert_int_eq(frame_step(&f, tiny, 4, &used), FRAME_BAD);
}
END_TEST

START_TEST(test_startup_requests_and_errors)
{
	struct startup_params sp;
	const char *why = NULL;
	const uint8_t ssl[] = { 0x04, 0xd2, 0x16, 0x2f };
	const uint8_t cancel[] = { 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 0, 0, 0, 9 };
	const uint8_t cancel_short[] = { 0x04, 0xd2, 0x16, 0x2e, 0, 0 };
	const uint8_t v2[] = { 0, 2, 0, 0, 0 };
	const uint8_t nouser[] = { 0, 3, 0, 0, 'd', 'a', 't', 'a', 'b', 'a', 's', 'e', 0, 'x', 0, 0 };
	const uint8_t unterminated[] = { 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'b', 'o' };

	ck_assert_int_eq(proto_parse_startup(ssl, sizeof(ssl), &sp, &why), 0);
	ck_assert_uint_eq(sp.code, PROTO_SSL_CODE);
	ck_assert_int_eq(proto_parse_startup(cancel, sizeof(cancel), &sp, &why), 0);
	ck_assert_uint_eq(sp.cancel_pid, 7);
	ck_assert_uint_eq(sp.cancel_key, 9);
	ck_assert_int_eq(proto_parse_startup(cancel_short, sizeof(cancel_short), &sp, &why), -EINVAL);
	ck_assert_int_eq(proto_parse_startup(v2, sizeof(v2), &sp, &why), -EINVAL);
	ck_assert_str_eq(why, "unsupported frontend protocol");
	ck_assert_int_eq(proto_parse_startup(nouser, sizeof(nouser), &sp, &why), -EINVAL);
	ck_assert_str_eq(why, "no username supplied");
	ck_assert_int_eq(proto_parse_startup(unterminated, sizeof(unterminated), &sp, &why), -EINVAL);
}
END_TEST

/* the options startup parameter as PostgreSQL splits it: three forms, libpq's
 * backslash escapes, '-' in names read as '_' */
START_TEST(test_options_forms)
{
	const char *opts = "  -c DateStyle=ISO,\\ MDY\t-capplication_name=a\\\\b "
			   "--search-path=x\\ y  -c  TimeZone= --w=a=b\\";
	char buf[256];
	struct startup_opt o[8];
	const char *why = NULL;

	ck_assert_int_eq(proto_parse_options(opts, buf, o, 8, &why), 5);
	ck_assert_str_eq(o[0].name, "DateStyle");
	ck_assert_str_eq(o[0].value, "ISO, MDY");
	ck_assert_str_eq(o[1].name, "application_name");
	ck_assert_str_eq(o[1].value, "a\\b");
	ck_assert_str_eq(o[2].name, "search_path");
	ck_assert_str_eq(o[2].value, "x y");
	ck_assert_str_eq(o[3].name, "TimeZone");
	ck_assert_str_eq(o[3].value, "");
	ck_assert_str_eq(o[4].name, "w");
	ck_assert_str_eq(o[4].value, "a=b");	/* a trailing lone backslash is dropped */
	ck_assert_int_eq(proto_parse_options("", buf, o, 8, &why), 0);
	ck_assert_int_eq(proto_parse_options(" \t ", buf, o, 8, &why), 0);
}
END_TEST

START_TEST(test_options_refused)
{
	static const char *const bad[] = {
		"-d 5", "-c", "-c name", "-cname", "--name", "-c =x", "-c=", "--=1",
		"x=1", "-c a=1 -F", "-", "--",
	};
	char buf[64];
	struct startup_opt o[2];
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(proto_parse_options(bad[i], buf, o, 2, &why) == -EINVAL, "%s", bad[i]);
		ck_assert_str_eq(why, "unsupported options startup parameter: "
				 "only '-c config=val' and '--config=val' are allowed");
	}
	ck_assert_int_eq(proto_parse_options("-c a=1 -c b=2 -c c=3", buf, o, 2, &why), -E2BIG);
}
END_TEST

/* the replication parameter as PostgreSQL takes it: a boolean or "database" */
START_TEST(test_replication_mode)
{
	static const char *const physical[] = { "true", "1", "on", "yes", "t", "TRUE", "y" };
	static const char *const none[] = { "false", "0", "off", "no", "f", "n", "OFF" };
	static const char *const bad[] = { "", "maybe", "o", "2", "Database", "database ", "truex" };

	ck_assert_int_eq(proto_replication_mode("database"), REPL_LOGICAL);
	for (size_t i = 0; i < sizeof(physical) / sizeof(physical[0]); i++)
		ck_assert_msg(proto_replication_mode(physical[i]) == REPL_PHYSICAL, "%s", physical[i]);
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		ck_assert_msg(proto_replication_mode(none[i]) == REPL_NONE, "%s", none[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(proto_replication_mode(bad[i]) == -EINVAL, "%s", bad[i]);
	ck_assert_str_eq(proto_replication_name(REPL_NONE), "none");
	ck_assert_str_eq(proto_replication_name(REPL_PHYSICAL), "physical");
	ck_assert_str_eq(proto_replication_name(REPL_LOGICAL), "logical");
}
END_TEST

START_TEST(test_error_roundtrip)
{
	struct pktbuf pb;
	struct error_fields ef;

	pkt_init(&pb);
	pkt_error(&pb, "FATAL", "28P01", "password authentication failed for user \"%s\"", "bob");
	ck_assert_int_eq(pb.data[0], 'E');
	ck_assert_uint_eq(((uint32_t)pb.data[1] << 24 | pb.data[2] << 16 | pb.data[3] << 8 | pb.data[4]),
			  pb.len - 1);
	ck_assert_int_eq(proto_parse_error(pb.data + 5, pb.len - 5, &ef), 0);
	ck_assert_str_eq(ef.severity, "FATAL");
	ck_assert_str_eq(ef.sqlstate, "28P01");
	ck_assert_str_eq(ef.message, "password authentication failed for user \"bob\"");
	/* a truncated body is refused, not overrun */
	ck_assert_int_eq(proto_parse_error(pb.data + 5, 9, &ef), -EINVAL);
	pkt_free(&pb);
}
END_TEST

START_TEST(test_reader_bounds)
{
	struct msg_rd r;
	const uint8_t b[] = { 0, 1, 'a', 'b' };

	rd_init(&r, b, sizeof(b));
	ck_assert_uint_eq(rd_u16(&r), 1);
	ck_assert_ptr_null(rd_str(&r));	/* no NUL before the end */
	ck_assert(r.bad);
	rd_init(&r, b, sizeof(b));
	ck_assert_uint_eq(rd_u32(&r), 0x00016162);
	ck_assert_uint_eq(rd_u8(&r), 0);
	ck_assert(r.bad);
	rd_init(&r, b, sizeof(b));
	ck_assert_ptr_null(rd_bytes(&r, 5));
	ck_assert(r.bad);
}
END_TEST

START_TEST(test_row_messages)
{
	struct pktbuf pb;
	struct msg_rd r;
	const char *names[] = { "database", "total_xact_count" };
	const uint32_t oids[] = { 25, 20 };
	const char *vals[] = { "db1", NULL };

	pkt_init(&pb);
	pkt_row_desc(&pb, names, oids, 2);
	pkt_data_row(&pb, vals, 2);
	pkt_command_complete(&pb, "SHOW");
	ck_assert(!pb.failed);
	ck_assert_int_eq(pb.data[0], 'T');
	rd_init(&r, pb.data + 5, pb.len - 5);
	ck_assert_uint_eq(rd_u16(&r), 2);
	ck_assert_str_eq(rd_str(&r), "database");
	pkt_free(&pb);
}
END_TEST

/* server.c's login readers: what PostgreSQL sends, and what it must not */
START_TEST(test_auth_request)
{
	static const uint8_t md5[] = { 0, 0, 0, 5, 'a', 'b', 'c', 'd' };
	static const uint8_t md5_short[] = { 0, 0, 0, 5, 'a', 'b' };
	static const uint8_t sasl[] = "\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	static const uint8_t sasl_other[] = "\0\0\0\x0aSCRAM-SHA-1\0";
	static const uint8_t cont[] = { 0, 0, 0, 11, 'r', '=', 'x' };
	struct auth_request ar;

	ck_assert_int_eq(proto_read_auth_request(md5, 3, &ar), -EINVAL);
	ck_assert_int_eq(proto_read_auth_request(md5, sizeof(md5), &ar), 0);
	ck_assert_uint_eq(ar.code, 5);
	ck_assert_ptr_eq(ar.salt, md5 + 4);
	ck_assert_int_eq(proto_read_auth_request(md5_short, sizeof(md5_short), &ar), 0);
	ck_assert_ptr_null(ar.salt);
	ck_assert_int_eq(proto_read_auth_request(sasl, sizeof(sasl) - 1, &ar), 0);
	ck_assert_uint_eq(ar.code, 10);
	ck_assert(ar.offers_scram_sha_256);
	ck_assert_int_eq(proto_read_auth_request(sasl_other, sizeof(sasl_other) - 1, &ar), 0);
	ck_assert(!ar.offers_scram_sha_256);
	/* the list cut before SCRAM-SHA-256's NUL does not offer it */
	ck_assert_int_eq(proto_read_auth_request(sasl, sizeof(sasl) - 3, &ar), 0);
	ck_assert(!ar.offers_scram_sha_256);
	ck_assert_int_eq(proto_read_auth_request(cont, sizeof(cont), &ar), 0);
	ck_assert_uint_eq(ar.code, 11);
	ck_assert_ptr_eq(ar.data, (const char *)cont + 4);
	ck_assert_uint_eq(ar.data_len, 3);
}
END_TEST

START_TEST(test_param_status_and_key)
{
	static const uint8_t ps[] = "TimeZone\0UTC\0";
	static const uint8_t key[] = { 0, 0, 1, 2, 0xde, 0xad, 0xbe, 0xef };
	const char *name, *val;
	uint32_t pid, k;

	ck_assert(proto_read_param_status(ps, sizeof(ps) - 1, &name, &val));
	ck_assert_str_eq(name, "TimeZone");
	ck_assert_str_eq(val, "UTC");
	ck_assert(!proto_read_param_status(ps, sizeof(ps) - 2, &name, &val));
	ck_assert(!proto_read_param_status(ps, 5, &name, &val));
	ck_assert(proto_read_backend_key(key, sizeof(key), &pid, &k));
	ck_assert_uint_eq(pid, 258);
	ck_assert_uint_eq(k, 0xdeadbeefu);
	ck_assert(!proto_read_backend_key(key, 7, &pid, &k));
	ck_assert_uint_eq(pid, 258);
	ck_assert_uint_eq(k, 0);
}
END_TEST

/*
 * The cutter as conn.c and fuzz/fuzz.h run it: frame_step, the verdict on a
 * header (frame_gather_check, gathering everything up to gather_max), body
 * bytes, frame_end; an error ends the stream.  Records what came out.
 */
struct cut {
	int err;
	int ends, partials;
	uint8_t types[16];
	uint32_t lens[16];	/* body bytes seen per ended message */
	uint32_t body;		/* of the message in progress */
};

static void cut_feed(struct frame *f, uint32_t gather_max, const uint8_t *p, size_t len,
		     size_t step, struct cut *c)
{
	for (size_t off = 0, used; off < len && !c->err; off += used) {
		size_t n = len - off < step ? len - off : step;
		enum frame_ev ev = frame_step(f, p + off, n, &used);
		uint8_t type;

		ck_assert_uint_gt(used, 0);
		ck_assert_uint_le(used, n);
		c->err = frame_error(ev);
		if (!c->err && ev == FRAME_HEADER) {
			c->body = 0;
			c->err = frame_gather_check(f, true, gather_max);
		}
		if (c->err)
			return;
		c->partials += ev == FRAME_PARTIAL;
		if (ev == FRAME_BODY)
			c->body += (uint32_t)used;
		if (frame_end(f, &type)) {
			ck_assert_int_lt(c->ends, 16);
			c->types[c->ends] = type;
			c->lens[c->ends++] = c->body;
			ck_assert(!f->in_body);
			ck_assert_uint_eq(f->have, 0);
		}
	}
}

/* A header split anywhere, a body split anywhere: the same messages, each
 * ended once, an empty body ended right at its header */
START_TEST(test_cut_split_headers)
{
	uint8_t buf[64];
	size_t n = three_messages(buf);

	for (size_t step = 1; step <= n; step++) {
		struct frame f;
		struct cut c;

		memset(&c, 0, sizeof(c));
		frame_init(&f, false, 1 << 20);
		cut_feed(&f, 0, buf, n, step, &c);
		ck_assert_int_eq(c.err, 0);
		ck_assert_int_eq(c.ends, 3);
		ck_assert_int_eq(c.types[0], 'Q');
		ck_assert_uint_eq(c.lens[0], 9);
		ck_assert_int_eq(c.types[1], 'S');
		ck_assert_uint_eq(c.lens[1], 0);
		ck_assert_int_eq(c.types[2], 'Z');
		ck_assert_uint_eq(c.lens[2], 1);
		/* each 5-byte header in pieces of step: all but its last piece partial */
		ck_assert_int_eq(c.partials, step >= 5 ? 0 : 3 * ((5 + step - 1) / step - 1));
	}
}
END_TEST

/* Nothing ends before its last body byte; a header alone ends nothing */
START_TEST(test_cut_end_waits)
{
	const uint8_t msg[] = { 'Z', 0, 0, 0, 5, 'I' };
	struct frame f;
	size_t used;
	uint8_t type = 0;

	frame_init(&f, false, 100);
	ck_assert(!frame_end(&f, &type));
	ck_assert_int_eq(frame_step(&f, msg, 3, &used), FRAME_PARTIAL);
	ck_assert(!frame_end(&f, &type));
	ck_assert_int_eq(frame_step(&f, msg + 3, 3, &used), FRAME_HEADER);
	ck_assert_uint_eq(used, 2);
	ck_assert(!frame_end(&f, &type));
	ck_assert_int_eq(frame_step(&f, msg + 5, 1, &used), FRAME_BODY);
	ck_assert(frame_end(&f, &type));
	ck_assert_int_eq(type, 'Z');
	ck_assert(!frame_end(&f, &type));	/* once */
}
END_TEST

static int cut_one(bool untyped, uint32_t max_len, uint32_t gather_max, uint32_t wire, struct cut *c)
{
	uint8_t hdr[5] = { 'D' };
	uint8_t *p = untyped ? hdr + 1 : hdr;
	struct frame f;

	hdr[1] = (uint8_t)(wire >> 24);
	hdr[2] = (uint8_t)(wire >> 16);
	hdr[3] = (uint8_t)(wire >> 8);
	hdr[4] = (uint8_t)wire;
	memset(c, 0, sizeof(*c));
	frame_init(&f, untyped, max_len);
	cut_feed(&f, gather_max, p, untyped ? 4 : 5, 1, c);
	return c->err;
}

/* Lengths at every limit: the length field counts itself (4) and a startup
 * packet its code (8); max_len bounds the body; the gather limit (0:
 * MSG_GATHER_MAX) bounds what is gathered, refused at the header */
START_TEST(test_cut_limits)
{
	struct cut c;

	ck_assert_int_eq(cut_one(false, 100, 0, 3, &c), -EBADMSG);
	ck_assert_int_eq(cut_one(false, 100, 0, 0, &c), -EBADMSG);
	ck_assert_int_eq(cut_one(false, 100, 0, 4, &c), 0);
	ck_assert_int_eq(c.ends, 1);			/* empty body: ended at the header */
	ck_assert_uint_eq(c.lens[0], 0);
	ck_assert_int_eq(cut_one(false, 0, 0, 4, &c), 0);
	ck_assert_int_eq(cut_one(false, 0, 0, 5, &c), -EFBIG);
	ck_assert_int_eq(cut_one(false, 100, 0, 104, &c), 0);
	ck_assert_int_eq(c.ends, 0);			/* its body has not come */
	ck_assert_int_eq(cut_one(false, 100, 0, 105, &c), -EFBIG);
	ck_assert_int_eq(cut_one(false, INT32_MAX, 0, UINT32_MAX, &c), -EFBIG);
	ck_assert_int_eq(cut_one(false, INT32_MAX, 0, 0x80000004u, &c), -EFBIG);
	ck_assert_int_eq(cut_one(false, INT32_MAX, UINT32_MAX, 0x7fffffffu, &c), 0);
	/* startup packets */
	ck_assert_int_eq(cut_one(true, PROTO_STARTUP_MAX, 0, 7, &c), -EBADMSG);
	ck_assert_int_eq(cut_one(true, PROTO_STARTUP_MAX, 0, 8, &c), 0);
	ck_assert_int_eq(cut_one(true, PROTO_STARTUP_MAX, 0, PROTO_STARTUP_MAX + 4, &c), 0);
	ck_assert_int_eq(cut_one(true, PROTO_STARTUP_MAX, 0, PROTO_STARTUP_MAX + 5, &c), -EFBIG);
	/* gathering */
	ck_assert_int_eq(cut_one(false, INT32_MAX, 0, MSG_GATHER_MAX + 4, &c), 0);
	ck_assert_int_eq(cut_one(false, INT32_MAX, 0, MSG_GATHER_MAX + 5, &c), -EMSGSIZE);
	ck_assert_int_eq(cut_one(false, INT32_MAX, 100, 104, &c), 0);
	ck_assert_int_eq(cut_one(false, INT32_MAX, 100, 105, &c), -EMSGSIZE);
	ck_assert_int_eq(cut_one(false, INT32_MAX, LOGIN_MSG_MAX, LOGIN_MSG_MAX + 5, &c), -EMSGSIZE);
}
END_TEST

START_TEST(test_cut_gather_check)
{
	struct frame f;

	frame_init(&f, false, INT32_MAX);
	f.len = MSG_GATHER_MAX + 1;
	ck_assert_int_eq(frame_gather_check(&f, false, 0), 0);	/* forwarded: no limit */
	ck_assert_int_eq(frame_gather_check(&f, false, 1), 0);
	ck_assert_int_eq(frame_gather_check(&f, true, 0), -EMSGSIZE);
	ck_assert_int_eq(frame_gather_check(&f, true, MSG_GATHER_MAX + 1), 0);
	ck_assert_int_eq(frame_gather_check(&f, true, UINT32_MAX), 0);
	f.len = 0;
	ck_assert_int_eq(frame_gather_check(&f, true, 1), 0);
	ck_assert_int_eq(frame_error(FRAME_PARTIAL), 0);
	ck_assert_int_eq(frame_error(FRAME_HEADER), 0);
	ck_assert_int_eq(frame_error(FRAME_BODY), 0);
	ck_assert_int_eq(frame_error(FRAME_BAD), -EBADMSG);
	ck_assert_int_eq(frame_error(FRAME_TOO_LONG), -EFBIG);
}
END_TEST

/* ReadyForQuery: exactly one byte, I, T or E, as PostgreSQL sends it */
START_TEST(test_ready_for_query)
{
	const uint8_t ok[] = "ITE";

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(proto_read_ready_for_query(ok + i, 1), ok[i]);
	for (int b = 0; b < 256; b++) {
		uint8_t v = (uint8_t)b;

		if (!memchr(ok, b, 3))
			ck_assert_int_eq(proto_read_ready_for_query(&v, 1), 0);
	}
	ck_assert_int_eq(proto_read_ready_for_query(ok, 0), 0);	/* no status */
	ck_assert_int_eq(proto_read_ready_for_query((const uint8_t *)"II", 2), 0);
	ck_assert_int_eq(proto_read_ready_for_query((const uint8_t *)"I", 2), 0);	/* I\0 */
}
END_TEST

/* authquery.c's and hostsel.c's DataRow reader */
START_TEST(test_data_row)
{
	/* two columns: "ab", NULL */
	static const uint8_t row[] = { 0, 2, 0, 0, 0, 2, 'a', 'b', 0xff, 0xff, 0xff, 0xff };
	struct row_col cols[2];

	ck_assert_int_eq(proto_read_data_row(row, sizeof(row), cols, 2), 2);
	ck_assert_int_eq(cols[0].len, 2);
	ck_assert(!memcmp(cols[0].val, "ab", 2));
	ck_assert_int_eq(cols[1].len, -1);
	ck_assert_ptr_null(cols[1].val);
	/* fewer slots than columns: the count still says two */
	ck_assert_int_eq(proto_read_data_row(row, sizeof(row), cols, 1), 2);
	/* cut anywhere, or a byte too many: malformed */
	for (size_t n = 0; n < sizeof(row); n++)
		ck_assert_int_eq(proto_read_data_row(row, n, cols, 2), -1);
	{
		uint8_t longer[sizeof(row) + 1];

		memcpy(longer, row, sizeof(row));
		longer[sizeof(row)] = 0;
		ck_assert_int_eq(proto_read_data_row(longer, sizeof(longer), cols, 2), -1);
	}
	/* a column longer than what is left */
	{
		static const uint8_t bad[] = { 0, 1, 0x7f, 0xff, 0xff, 0xff, 'x' };

		ck_assert_int_eq(proto_read_data_row(bad, sizeof(bad), cols, 2), -1);
	}
}
END_TEST

/* client.c's login readers */
START_TEST(test_password_and_sasl_initial)
{
	static const uint8_t pw[] = "secret\0";
	static const uint8_t init[] = "SCRAM-SHA-256\0\0\0\0\x05n,,ab";
	const char *mech;
	const uint8_t *data;
	uint32_t dlen;

	ck_assert_str_eq(proto_read_password(pw, sizeof(pw) - 1), "secret");
	ck_assert_ptr_null(proto_read_password(pw, 6));
	ck_assert_int_eq(proto_read_sasl_initial(init, sizeof(init) - 1, &mech, &data, &dlen), 0);
	ck_assert_str_eq(mech, "SCRAM-SHA-256");
	ck_assert_uint_eq(dlen, 5);
	ck_assert(!memcmp(data, "n,,ab", 5));
	/* data shorter than its length, or the length cut */
	ck_assert_int_eq(proto_read_sasl_initial(init, sizeof(init) - 2, &mech, &data, &dlen), -EINVAL);
	ck_assert_int_eq(proto_read_sasl_initial(init, 16, &mech, &data, &dlen), -EINVAL);
	ck_assert_int_eq(proto_read_sasl_initial(init, 5, &mech, &data, &dlen), -EINVAL);
}
END_TEST

/* prepared.c's readers of Parse, Bind, Describe, Close and CommandComplete */
START_TEST(test_prepared_names)
{
	static const uint8_t bind[] = "portal\0stmt\0\0\x01\0\0\0\x01";
	static const uint8_t desc[] = "Sst\0";
	static const uint8_t close_p[] = "Pp1\0";
	static const uint8_t parse[] = "s1\0select 1\0\0\0";
	struct proto_names pn;
	uint16_t counts[2];

	ck_assert(proto_read_names('B', bind, sizeof(bind) - 1, &pn));
	ck_assert_str_eq(pn.portal, "portal");
	ck_assert_str_eq(pn.name, "stmt");
	ck_assert_uint_eq(pn.kind, 'S');
	ck_assert_uint_eq(pn.used, 12);
	ck_assert(proto_read_bind_counts(bind + pn.used, sizeof(bind) - 1 - pn.used, counts));
	ck_assert_uint_eq(counts[0], 1);
	ck_assert_uint_eq(counts[1], 1);
	ck_assert(!proto_read_bind_counts(bind + pn.used, 3, counts));
	ck_assert(!proto_read_names('B', bind, 10, &pn));
	ck_assert(proto_read_names('D', desc, sizeof(desc) - 1, &pn));
	ck_assert_ptr_null(pn.portal);
	ck_assert_uint_eq(pn.kind, 'S');
	ck_assert_str_eq(pn.name, "st");
	ck_assert(proto_read_names('C', close_p, sizeof(close_p) - 1, &pn));
	ck_assert_uint_eq(pn.kind, 'P');
	ck_assert(!proto_read_names('C', close_p, 0, &pn));
	ck_assert(proto_read_names('P', parse, sizeof(parse) - 1, &pn));
	ck_assert_str_eq(pn.name, "s1");
	ck_assert_uint_eq(pn.used, 3);

	ck_assert(proto_names_no_statement('P', (const uint8_t *)"\0q", 2));
	ck_assert(!proto_names_no_statement('P', parse, 3));
	ck_assert(!proto_names_no_statement('P', parse, 0));
	ck_assert(proto_names_no_statement('B', (const uint8_t *)"p\0\0", 3));
	ck_assert(!proto_names_no_statement('B', bind, sizeof(bind) - 1));
	ck_assert(!proto_names_no_statement('B', (const uint8_t *)"p\0", 2));	/* cannot tell */
	ck_assert(proto_names_no_statement('D', close_p, 2));		/* a portal */
	ck_assert(proto_names_no_statement('C', (const uint8_t *)"S\0", 2));
	ck_assert(!proto_names_no_statement('C', desc, 2));

	ck_assert(proto_tag_is((const uint8_t *)"DISCARD ALL", 12, "DISCARD ALL"));
	ck_assert(!proto_tag_is((const uint8_t *)"DISCARD ALL", 11, "DISCARD ALL"));
	ck_assert(!proto_tag_is((const uint8_t *)"DEALLOCATE ALL", 15, "DEALLOCATE"));
	ck_assert(proto_tag_is((const uint8_t *)"DEALLOCATE", 11, "DEALLOCATE"));
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_frame_every_split);
	tcase_add_test(tc, test_frame_partial_header);
	tcase_add_test(tc, test_frame_bad_lengths);
	tcase_add_test(tc, test_frame_startup);
	tcase_add_test(tc, test_cut_split_headers);
	tcase_add_test(tc, test_cut_end_waits);
	tcase_add_test(tc, test_cut_limits);
	tcase_add_test(tc, test_cut_gather_check);
	tcase_add_test(tc, test_ready_for_query);
	tcase_add_test(tc, test_startup_negotiate);
	tcase_add_test(tc, test_set_query_long);
	tcase_add_test(tc, test_startup_oversized_and_tiny);
	tcase_add_test(tc, test_startup_requests_and_errors);
	tcase_add_test(tc, test_options_forms);
	tcase_add_test(tc, test_options_refused);
	tcase_add_test(tc, test_replication_mode);
	tcase_add_test(tc, test_error_roundtrip);
	tcase_add_test(tc, test_reader_bounds);
	tcase_add_test(tc, test_row_messages);
	tcase_add_test(tc, test_auth_request);
	tcase_add_test(tc, test_param_status_and_key);
	tcase_add_test(tc, test_data_row);
	tcase_add_test(tc, test_password_and_sasl_initial);
	tcase_add_test(tc, test_prepared_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
