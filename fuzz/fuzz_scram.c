/* fuzz_scram.c - the SCRAM-SHA-256 messages on both sides, straight into
 * auth.c: client-first and client-final as pgring's server side reads them,
 * server-first and server-final as its client side reads them.
 *
 * Input: up to four messages separated by NUL bytes (SCRAM messages hold
 * none): client-first, client-final, server-first, server-final. */

#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "fuzz.h"

static const struct secret *verifier(void)
{
	static struct secret sec;
	static bool ready;

	if (!ready) {
		static const uint8_t salt[16] = "pgring-fuzzsalt";

		if (auth_scram_verifier("pencil", salt, sizeof(salt), 1, &sec) < 0)
			abort();
		ready = true;
	}
	return &sec;
}

static void check_out(int n, const char *out, size_t cap)
{
	if (n >= 0 && ((size_t)n >= cap || strlen(out) != (size_t)n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ck[SCRAM_KEY_LEN] = "client-key-client-key-client-ke";
	static const uint8_t sk[SCRAM_KEY_LEN] = "server-key-server-key-server-ke";
	const uint8_t *part[4];
	size_t len[4], n;
	struct scram_server sv;
	struct scram_client cl;
	char out[1024];
	int r;

	n = 0;
	part[0] = data;
	len[0] = size;
	for (size_t i = 0; i < size && n < 3; i++) {
		if (data[i] == 0) {
			len[n] = (size_t)(data + i - part[n]);
			n++;
			part[n] = data + i + 1;
			len[n] = size - i - 1;
		}
	}
	n++;

	/* pgring as the server: a client logs in */
	if (scram_server_init(&sv, verifier(), 4096) < 0 ||
	    scram_server_set_nonce(&sv, "3rfcNHYJY1ZVvWVs7j") < 0)
		abort();
	r = scram_server_first(&sv, (const char *)part[0], len[0], out, sizeof(out));
	check_out(r, out, sizeof(out));
	if (r >= 0 && n > 1) {
		r = scram_server_final(&sv, (const char *)part[1], len[1], out, sizeof(out));
		check_out(r, out, sizeof(out));
	}

	/* pgring as the client: it logs in to PostgreSQL with stored keys */
	if (n > 2) {
		scram_client_init_keys(&cl, ck, sk);
		if (scram_client_set_nonce(&cl, "rOprNGfwEbeRWgbNEkqO", NULL) < 0)
			abort();
		r = scram_client_first(&cl, out, sizeof(out));
		check_out(r, out, sizeof(out));
		r = scram_client_final(&cl, (const char *)part[2], len[2], out, sizeof(out));
		check_out(r, out, sizeof(out));
		if (r >= 0 && n > 3)
			scram_client_verify(&cl, (const char *)part[3], len[3]);
	}
	return 0;
}
