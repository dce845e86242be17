// pg_tls.js - node-postgres through pgring over TLS (scenarios_tlsclients.sh).
//   node pg_tls.js PORT CA_FILE OTHER_CA_FILE
// node-postgres comes from this directory's node_modules (npm ci, run by
// scripts/install-deps.sh). For sslmode require (no verification) and
// verify-full (host localhost, the test CA): the protocol of the client's
// own socket, a parameterised query, a committed and a rolled-back
// transaction, pg_stat_ssl (the server side of pgring) and SHOW CLIENTS' tls
// column (the client side), one line each:
//   MODE: tls=TLSv1.3 param=42 txn=3 server_ssl=true client_tls=TLSv1.3/...
// then verify-full with another CA and with a name the certificate lacks,
// which must be refused:  wrong-ca: refused: CODE MESSAGE
'use strict';
const fs = require('fs');
const { Client } = require('pg');

const [port, caFile, otherCaFile] = process.argv.slice(2);

// libpq's sslmode, said the way node's tls options say it
function ssl(mode, ca) {
	if (mode === 'require')
		return { rejectUnauthorized: false };
	return { ca: fs.readFileSync(ca), rejectUnauthorized: true };
}

function client(host, db, mode, ca, app) {
	return new Client({
		host, port: Number(port), database: db, user: 'u_trust', application_name: app,
		ssl: ssl(mode, ca), connectionTimeoutMillis: 5000, query_timeout: 30000,
	});
}

async function txn(c, who) {
	await c.query('BEGIN');
	await c.query('INSERT INTO tlsc_t (who, n) VALUES ($1, $2), ($1, $3)', [who, 1, 2]);
	await c.query('COMMIT');
	await c.query('BEGIN');
	await c.query('INSERT INTO tlsc_t (who, n) VALUES ($1, $2)', [who, 100]);
	await c.query('ROLLBACK');
	const r = await c.query('SELECT sum(n)::int AS s FROM tlsc_t WHERE who = $1', [who]);
	return r.rows[0].s;
}

// the tls column of this application's client in SHOW CLIENTS
async function clientTls(app) {
	const a = client('localhost', 'pgbouncer', 'require', null, app + '_admin');
	await a.connect();
	try {
		const r = await a.query('SHOW CLIENTS');
		const row = r.rows.find((x) => x.application_name === app && x.database === 'testdb');
		return row ? row.tls : 'no client ' + app;
	} finally {
		await a.end();
	}
}

async function good(mode, ca) {
	const app = 'node_' + mode.replace('-', '_');
	const c = client('localhost', 'testdb', mode, ca, app);
	await c.connect();
	try {
		const sock = c.connection.stream;
		const tls = typeof sock.getProtocol === 'function' ? sock.getProtocol() : 'none';
		const p = await c.query('SELECT $1::int + 1 AS a', [41]);
		const t = await txn(c, app);
		const s = await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
		console.log(`${mode}: tls=${tls} param=${p.rows[0].a} txn=${t} server_ssl=${s.rows[0].ssl} ` +
			`client_tls=${await clientTls(app)}`);
	} finally {
		await c.end();
	}
}

async function bad(label, host, ca) {
	const c = client(host, 'testdb', 'verify-full', ca, 'node_bad');
	try {
		await c.connect();
		console.log(`${label}: connected`);
		await c.end();
	} catch (e) {
		console.log(`${label}: refused: ${e.code || ''} ${String(e.message).replace(/\n/g, ' ')}`);
	}
}

(async () => {
	await good('require', null);
	await good('verify-full', caFile);
	await bad('wrong-ca', 'localhost', otherCaFile);
	await bad('wrong-name', '127.0.0.1', caFile);
})().catch((e) => {
	console.log(`error: ${e.code || ''} ${e.message}`);
	process.exit(1);
});
