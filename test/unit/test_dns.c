/* test_dns.c - the DNS cache's rules: expiry, failures, address changes, round-robin */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

#define S 1000000ULL

static struct dns_addr v4(const char *s)
{
	struct dns_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, s, a.ip), 1);
	return a;
}

static struct dns_host *host(void)
{
	struct dns_host *h = calloc(1, sizeof(*h));

	ck_assert_ptr_nonnull(h);
	list_init(&h->waiters);
	return h;
}

/* min(TTL, dns_max_ttl); a TTL of 0 (hosts files) or none: dns_max_ttl */
START_TEST(expiry)
{
	ck_assert_uint_eq(dns_expiry(100, 5, 15 * S), 100 + 5 * S);
	ck_assert_uint_eq(dns_expiry(100, 600, 15 * S), 100 + 15 * S);
	ck_assert_uint_eq(dns_expiry(100, 0, 15 * S), 100 + 15 * S);
	ck_assert_uint_eq(dns_expiry(100, -1, 15 * S), 100 + 15 * S);
	ck_assert_uint_eq(dns_expiry(100, 5, 0), 100);	/* dns_max_ttl = 0: no caching */
	ck_assert_uint_eq(dns_expiry(100, 1, 2500000), 100 + S);
}
END_TEST

START_TEST(answer_then_expiry)
{
	struct dns_host *h = host();
	struct dns_addr a[2] = { v4("127.0.0.1"), v4("127.0.0.2") };

	ck_assert(!dns_host_fresh(h, 0));	/* never answered */
	dns_host_set_answer(h, a, 2, 2, 10 * S, 15 * S);
	ck_assert_int_eq(h->state, DNS_OK);
	ck_assert(dns_host_fresh(h, 10 * S));
	ck_assert(dns_host_fresh(h, 12 * S - 1));
	ck_assert(!dns_host_fresh(h, 12 * S));
	ck_assert_uint_eq(dns_host_ttl_left(h, 10 * S), 2);
	ck_assert_uint_eq(dns_host_ttl_left(h, 13 * S), 0);
	free(h);
}
END_TEST

/* gen moves only when an address goes away: connections on the others stay */
START_TEST(gen_on_lost_address)
{
	struct dns_host *h = host();
	struct dns_addr a[2] = { v4("127.0.0.1"), v4("127.0.0.2") }, b = v4("127.0.0.2");
	uint32_t g;

	dns_host_set_answer(h, a, 1, 5, 0, 15 * S);
	g = h->gen;
	dns_host_set_answer(h, a, 2, 5, 0, 15 * S);	/* one more: nothing lost */
	ck_assert_uint_eq(h->gen, g);
	dns_host_set_answer(h, &b, 1, 5, 0, 15 * S);	/* 127.0.0.1 gone */
	ck_assert_uint_eq(h->gen, g + 1);
	ck_assert(dns_host_has(h, &b));
	ck_assert(!dns_host_has(h, &a[0]));
	free(h);
}
END_TEST

/* NXDOMAIN replaces an answer; a timeout keeps it (for dns_nxdomain_ttl) */
START_TEST(failures)
{
	struct dns_host *h = host();
	struct dns_addr a = v4("10.1.2.3");
	struct sockaddr_storage ss;
	socklen_t len;

	dns_host_set_failure(h, true, "could not resolve x: Domain name not found", 0, 15 * S);
	ck_assert_int_eq(h->state, DNS_FAILED);
	ck_assert(dns_host_fresh(h, 14 * S));
	ck_assert(!dns_host_fresh(h, 15 * S));
	ck_assert(!dns_host_pick(h, 5432, &ss, &len));
	ck_assert_str_eq(h->err, "could not resolve x: Domain name not found");

	dns_host_set_answer(h, &a, 1, 60, 20 * S, 15 * S);
	ck_assert_int_eq(h->state, DNS_OK);
	dns_host_set_failure(h, false, "could not resolve x: Timeout while contacting DNS servers",
			     40 * S, 3 * S);
	ck_assert_int_eq(h->state, DNS_OK);	/* still serves */
	ck_assert(dns_host_fresh(h, 42 * S));
	ck_assert(!dns_host_fresh(h, 43 * S));
	ck_assert(dns_host_pick(h, 5432, &ss, &len));
	dns_host_set_failure(h, true, "gone", 50 * S, 3 * S);
	ck_assert_int_eq(h->state, DNS_FAILED);
	ck_assert_uint_eq(h->naddr, 0);
	free(h);
}
END_TEST

START_TEST(pick_round_robin)
{
	struct dns_host *h = host();
	struct dns_addr a[2] = { v4("127.0.0.1"), v4("127.0.0.2") }, got;
	struct sockaddr_storage ss;
	socklen_t len;

	dns_host_set_answer(h, a, 2, 5, 0, 15 * S);
	ck_assert(dns_host_pick(h, 6000, &ss, &len));
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 6000);
	dns_addr_of(&ss, &got);
	ck_assert(!memcmp(&got, &a[0], sizeof(got)));
	ck_assert(dns_host_pick(h, 6000, &ss, &len));
	dns_addr_of(&ss, &got);
	ck_assert(!memcmp(&got, &a[1], sizeof(got)));
	ck_assert(dns_host_pick(h, 6000, &ss, &len));
	dns_addr_of(&ss, &got);
	ck_assert(!memcmp(&got, &a[0], sizeof(got)));
	free(h);
}
END_TEST

START_TEST(is_name)
{
	ck_assert(dns_is_name("db.example.com"));
	ck_assert(dns_is_name("localhost"));
	ck_assert(!dns_is_name("127.0.0.1"));
	ck_assert(!dns_is_name("::1"));
	ck_assert(!dns_is_name("/var/run/postgresql"));
	ck_assert(!dns_is_name(""));
	ck_assert(!dns_is_name(NULL));
}
END_TEST

START_TEST(addrs_text)
{
	struct dns_host *h = host();
	struct dns_addr a[2] = { v4("127.0.0.1"), v4("10.0.0.2") };
	char buf[64];

	dns_host_addrs_text(h, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	dns_host_set_answer(h, a, 2, 5, 0, 15 * S);
	dns_host_addrs_text(h, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1,10.0.0.2");
	free(h);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("cache");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, expiry);
	tcase_add_test(tc, answer_then_expiry);
	tcase_add_test(tc, gen_on_lost_address);
	tcase_add_test(tc, failures);
	tcase_add_test(tc, pick_round_robin);
	tcase_add_test(tc, is_name);
	tcase_add_test(tc, addrs_text);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
