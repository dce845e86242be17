#!/usr/bin/python3
"""difftest.py - differential test of pgring with PostgreSQL as the oracle.

A script of frontend messages is played once straight to PostgreSQL and once
through pgring; the backend messages must be the same, one by one, after
normalising only what a pooler legitimately changes (the whole login phase,
up to the first ReadyForQuery, reads as "logged in"; table OIDs in
RowDescription, since a script's temp tables differ between the runs).

  difftest.py scripts --pg-port P --pooler-port Q [--mode M] FILE...
      the fixed scripts (test/integration/diff/*.txt; format below)
  difftest.py random-config --seed S
      the pgring settings (pool mode and size, max_prepared_statements) run
      S uses
  difftest.py random --seed S --pg-port P --pooler-port Q
      N generated client scripts interleaved through pgring (transaction
      mode; one seed in eight session mode), each compared with that
      client's script run alone on PostgreSQL
  difftest.py show --seed S [--client C]
      print the generated scripts of run S (to save one as a fixed script)
  difftest.py minimize --pg-port P --pooler-port Q FILE
      drop batches and lines of a differing script while the first
      difference stays the same; prints what is left
  --tls CA_FILE (with scripts, random, minimize): every connection, to
      PostgreSQL and to pgring alike, sends SSLRequest and runs TLS, verifying
      the certificate against CA_FILE and the name --tls-name (localhost); a
      server that answers N is an error, not a fallback to clear text

Script format: one frontend message per line; a blank line ends a batch:
the batch's messages are sent in one write, then the answers are read.
  Q sql                     Query (rest of line; "Q" alone is an empty query)
  P name [types=23,25] sql  Parse ("-" is the unnamed statement)
  B portal stmt [param...] [rfmt=1]   Bind; params are shell words, NULL is
                            a null, repeat(x,N) is N times x
  D S|P name, C S|P name    Describe, Close
  E portal [maxrows]        Execute
  S, H                      Sync, Flush
  d text, c, f text         CopyData (\\n, \\t escapes), CopyDone, CopyFail
  repeat N line             the line N times, {i} replaced by 0..N-1
  @conn NAME                later batches go on connection NAME (default "a")
  @config ini line          pgring setting the script needs (scenario reads it)
  @modes session|transaction...   pool modes the script is valid for
  @sleep SECONDS            wait that long before sending the next batch
  # comment
Stdlib only; run with /usr/bin/python3.
"""
import argparse
import base64
import hashlib
import hmac
import os
import random
import re
import shlex
import socket
import ssl
import struct
import sys
import threading
import time

READ_TIMEOUT = 15.0	# a reply that takes longer is a difference ("no answer")
QUIET = 0.4		# oracle: after a batch with no Sync, the answers end when quiet this long
TAIL_QUIET = 0.2	# pooler: extra messages after the script's end


# ---- wire --------------------------------------------------------------------

def msg(t, body=b""):
	return t + struct.pack("!I", len(body) + 4) + body


def cstr(s):
	return (s.encode() if isinstance(s, str) else s) + b"\0"


class Timeout(Exception):
	pass


SSL_REQUEST = struct.pack("!II", 8, 80877103)


class Conn:
	def __init__(self, host, port, timeout=READ_TIMEOUT, tls=None, tls_name=None):
		self.s = socket.create_connection((host, port), timeout=timeout)
		self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.buf = b""
		if tls:
			self._starttls(tls, tls_name)

	def _starttls(self, ctx, name):
		"""SSLRequest, then the handshake, as libpq's sslmode=verify-full"""
		self.s.sendall(SSL_REQUEST)
		answer = self.s.recv(1)
		if answer != b"S":
			self.s.close()
			raise RuntimeError("TLS refused: SSLRequest answered %r" % answer)
		self.s = ctx.wrap_socket(self.s, server_hostname=name)

	def send(self, d):
		self.s.sendall(d)

	def _fill(self, n, timeout):
		deadline = time.monotonic() + timeout
		while len(self.buf) < n:
			left = deadline - time.monotonic()
			if left <= 0:
				raise Timeout()
			self.s.settimeout(left)
			try:
				d = self.s.recv(1 << 20)
			except socket.timeout:
				raise Timeout()
			if not d:
				raise EOFError("connection closed")
			self.buf += d

	def read(self, timeout=READ_TIMEOUT):
		self._fill(5, timeout)
		t = self.buf[:1]
		(ln,) = struct.unpack("!I", self.buf[1:5])
		self._fill(1 + ln, timeout)
		b = self.buf[5:1 + ln]
		self.buf = self.buf[1 + ln:]
		return t, b

	def login(self, user, db, password=None):
		body = struct.pack("!I", 196608) + cstr("user") + cstr(user) + cstr("database") + cstr(db) + b"\0"
		self.send(struct.pack("!I", len(body) + 4) + body)
		while True:
			t, b = self.read()
			if t == b"R":
				code = struct.unpack("!I", b[:4])[0]
				if code == 3:
					self.send(msg(b"p", cstr(password or "")))
				elif code == 5:
					inner = hashlib.md5(((password or "") + user).encode()).hexdigest()
					outer = hashlib.md5(inner.encode() + b[4:8]).hexdigest()
					self.send(msg(b"p", cstr("md5" + outer)))
				elif code == 10:
					self._scram(password or "")
			elif t == b"E":
				raise RuntimeError("login failed: %s" % fmt_msg(t, b))
			elif t == b"Z":
				return

	def _scram(self, password):
		cfb = "n=,r=" + base64.b64encode(os.urandom(18)).decode()
		d = ("n,," + cfb).encode()
		self.send(msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!I", len(d)) + d))
		t, b = self.read()
		sf = b[4:].decode()
		a = dict(kv.split("=", 1) for kv in sf.split(","))
		salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(a["s"]), int(a["i"]))
		ck = hmac.new(salted, b"Client Key", "sha256").digest()
		wp = "c=biws,r=" + a["r"]
		sig = hmac.new(hashlib.sha256(ck).digest(), (cfb + "," + sf + "," + wp).encode(), "sha256").digest()
		proof = base64.b64encode(bytes(x ^ y for x, y in zip(ck, sig))).decode()
		self.send(msg(b"p", (wp + ",p=" + proof).encode()))

	def close(self):
		try:
			self.send(msg(b"X"))
		except OSError:
			pass
		self.s.close()


# ---- backend messages as comparable text -------------------------------------

def short(v, limit=60):
	"""a value as text; long ones by length and digest, so they still compare"""
	if v is None:
		return "NULL"
	if len(v) > limit:
		return "<%d bytes sha1 %s>" % (len(v), hashlib.sha1(v).hexdigest()[:12])
	try:
		return repr(v.decode())
	except UnicodeDecodeError:
		return repr(v)


def fields(b):
	out = {}
	for p in b.split(b"\0"):
		if p:
			out[chr(p[0])] = p[1:].decode(errors="replace")
	return out


def fmt_msg(t, b):
	"""one backend message as the text that is compared and printed"""
	if t in (b"E", b"N"):
		f = fields(b)
		# file, line and routine name the server's source, not the answer
		rest = " ".join("%s=%r" % (k, f[k]) for k in sorted(f) if k not in "SVCMFLR")
		return "%s %s %s %s%s" % (t.decode(), f.get("V", f.get("S")), f.get("C"), f.get("M"),
					  (" " + rest) if rest else "")
	if t == b"C":
		return "C " + b.rstrip(b"\0").decode()
	if t == b"Z":
		return "Z " + b.decode()
	if t == b"D":
		n = struct.unpack("!H", b[:2])[0]
		vals, p = [], 2
		for _ in range(n):
			ln = struct.unpack("!i", b[p:p + 4])[0]
			p += 4
			if ln < 0:
				vals.append(None)
			else:
				vals.append(b[p:p + ln])
				p += ln
		return "D " + " | ".join(short(v) for v in vals)
	if t == b"T":
		n = struct.unpack("!H", b[:2])[0]
		cols, p = [], 2
		for _ in range(n):
			e = b.index(b"\0", p)
			name = b[p:e].decode()
			tbl, att, typ, tlen, tmod, fm = struct.unpack("!IhIhih", b[e + 1:e + 19])
			p = e + 19
			# the table's OID differs between runs when the script made the table
			cols.append("%s:%d%s%s%s" % (name, typ, "/mod%d" % tmod if tmod != -1 else "",
						      "/t.%d" % att if tbl else "", "/bin" if fm else ""))
		return "T " + ", ".join(cols)
	if t == b"t":
		n = struct.unpack("!H", b[:2])[0]
		return "t " + ",".join(str(x) for x in struct.unpack("!%dI" % n, b[2:2 + 4 * n]))
	if t in (b"G", b"H", b"W"):
		n = struct.unpack("!H", b[1:3])[0]
		return "%s fmt=%d cols=%s" % (t.decode(), b[0], struct.unpack("!%dh" % n, b[3:3 + 2 * n]))
	if t == b"d":
		return "d " + short(b)
	if t == b"S":
		k, v = (b.split(b"\0") + [b""])[:2]
		return "S %s=%s" % (k.decode(), v.decode())
	if t == b"A":
		rest = b[4:].rstrip(b"\0").split(b"\0")
		return "A " + " ".join(x.decode() for x in rest)
	if t == b"K":
		return "K"
	# 1 2 3 n s I c and anything unexpected: its type (and body, if any)
	return t.decode(errors="replace") + ((" " + short(b)) if b else "")


# ---- scripts -------------------------------------------------------------------

class ScriptError(Exception):
	pass


def name_of(tok):
	return "" if tok in ("-", '""', "''") else tok


def param(tok):
	if tok == "NULL":
		return None
	m = re.fullmatch(r"repeat\((.*),(\d+)\)", tok)
	if m:
		return m.group(1).encode() * int(m.group(2))
	return tok.encode()


def unescape(s):
	return s.encode().decode("unicode_escape").encode("latin-1")


def encode_line(line):
	"""one script line (not a directive) as (type, wire bytes)"""
	op, _, rest = line.partition(" ")
	words = rest.split()
	if op == "Q":
		return "Q", msg(b"Q", cstr(rest))
	if op == "P":
		name, _, sql = rest.partition(" ")
		types = []
		if sql.startswith("types="):
			spec, _, sql = sql.partition(" ")
			types = [int(x) for x in spec[6:].split(",") if x]
		body = cstr(name_of(name)) + cstr(sql) + struct.pack("!H%dI" % len(types), len(types), *types)
		return "P", msg(b"P", body)
	if op == "B":
		toks = shlex.split(rest)
		if len(toks) < 2:
			raise ScriptError("B needs a portal and a statement: %r" % line)
		rfmt = []
		while toks[2:] and toks[-1].startswith("rfmt="):
			rfmt = [int(x) for x in toks.pop()[5:].split(",")]
		body = cstr(name_of(toks[0])) + cstr(name_of(toks[1])) + struct.pack("!HH", 0, len(toks) - 2)
		for tok in toks[2:]:
			v = param(tok)
			body += struct.pack("!i", -1) if v is None else struct.pack("!I", len(v)) + v
		body += struct.pack("!H%dh" % len(rfmt), len(rfmt), *rfmt)
		return "B", msg(b"B", body)
	if op in ("D", "C") and len(words) in (1, 2) and words[0] in ("S", "P"):
		return op, msg(op.encode(), words[0].encode() + cstr(name_of(words[1]) if len(words) > 1 else ""))
	if op == "E" and 1 <= len(words) <= 2:
		return "E", msg(b"E", cstr(name_of(words[0])) + struct.pack("!I", int(words[1]) if len(words) > 1 else 0))
	if op in ("S", "H", "c") and not rest:
		return op, msg(op.encode())
	if op == "d":
		return "d", msg(b"d", unescape(rest))
	if op == "f":
		return "f", msg(b"f", cstr(rest))
	raise ScriptError("cannot read line %r" % line)


class Batch:
	def __init__(self, conn, lines, pause=0.0, ext=False):
		self.conn = conn
		self.lines = lines
		self.pause = pause	# seconds to wait before sending it (@sleep)
		enc = [encode_line(l) for l in lines]
		self.types = [t for t, _ in enc]
		self.wire = b"".join(w for _, w in enc)
		# the replies end with as many ReadyForQuery as Query and Sync, except
		# that a Query after unsynced extended messages may be skipped; and a
		# batch that does not end in Sync or Query ends when the server is quiet
		self.ready = self.types.count("Q") + self.types.count("S")
		self.quiet = not self.types or self.types[-1] not in ("S", "Q")
		# ext: the connection's last batch left extended messages unsynced.
		# A Query after extended messages may be skipped (maybe_skip): after
		# an ErrorResponse, either its ReadyForQuery comes at once or nothing
		self.maybe_skip = ext and "Q" in self.types and \
			("S" not in self.types or self.types.index("Q") < self.types.index("S"))
		for t in self.types:
			if t == "Q" and ext:
				self.quiet = self.maybe_skip = True
			ext = t in ("P", "B", "D", "E", "C", "H")	# Sync ends it
		self.ext = ext


class Script:
	def __init__(self, name, text):
		self.name = name
		self.text = text
		self.configs = []
		self.modes = ["session", "transaction"]
		self.batches = []
		conn, cur, pause, ext = "a", [], 0.0, {}

		def flush():
			nonlocal pause
			if cur:
				self.batches.append(Batch(conn, list(cur), pause, ext.get(conn, False)))
				ext[conn] = self.batches[-1].ext
				cur.clear()
				pause = 0.0
		for raw in text.split("\n"):
			line = raw.rstrip()
			if not line.strip():
				flush()
			elif line.lstrip().startswith("#"):
				continue
			elif line.startswith("@conn "):
				flush()
				conn = line.split()[1]
			elif line.startswith("@config "):
				self.configs.append(line[8:].strip())
			elif line.startswith("@modes "):
				self.modes = line.split()[1:]
			elif line.startswith("@sleep "):
				flush()
				pause += float(line.split()[1])
			elif line.startswith("repeat "):
				_, n, body = line.split(" ", 2)
				cur.extend(body.replace("{i}", str(i)) for i in range(int(n)))
			else:
				cur.append(line)
		flush()


# ---- playing a script ------------------------------------------------------------

class Target:
	def __init__(self, host, port, user, db, password, tls=None, tls_name=None):
		self.host, self.port, self.user, self.db, self.password = host, port, user, db, password
		self.tls, self.tls_name = tls, tls_name
		self.versions = set()	# the TLS versions its connections got

	def connect(self):
		c = Conn(self.host, self.port, tls=self.tls, tls_name=self.tls_name)
		if self.tls:
			self.versions.add(c.s.version())
		c.login(self.user, self.db, self.password)
		return c


def read_oracle(c, batch, skipping=False):
	"""PostgreSQL's answers to one batch: until its ReadyForQuery, or quiet.
	skipping: an extended request failed and no Sync followed yet, so what
	comes before the batch's first Sync gets no answer (its Queries no
	ReadyForQuery; without a Sync, the batch nothing at all)"""
	out, ready, want, erred = [], 0, batch.ready, False
	silent = skipping and "S" not in batch.types
	if skipping:
		want -= batch.types[:batch.types.index("S") if "S" in batch.types else None].count("Q")
	while ready < want or batch.quiet or silent:
		try:
			# after an error in a batch whose Queries may be skipped, how many
			# ReadyForQuery come is not known: the answers end when quiet
			t, b = c.read(QUIET if silent or batch.quiet and (ready >= want or out and out[-1].startswith("Z") or
									 batch.maybe_skip and erred) else READ_TIMEOUT)
		except Timeout:
			if batch.quiet or silent:
				break
			raise
		out.append(fmt_msg(t, b))
		erred = erred or t == b"E"
		if t == b"Z":
			ready += 1
	return out


def still_skipping(answers, before):
	"""whether PostgreSQL skips to a Sync after a batch with these answers: an
	ErrorResponse after the last ReadyForQuery (a Query's own error has its
	ReadyForQuery right after it), or no ReadyForQuery and it skipped before"""
	last_z = max((i for i, m in enumerate(answers) if m.startswith("Z")), default=-1)
	last_e = max((i for i, m in enumerate(answers) if m.startswith("E ")), default=-1)
	return last_e > last_z or (last_z < 0 and before)


def play_oracle(script, target):
	"""run the script on PostgreSQL; the answers per batch"""
	conns, answers, skipping = {}, [], {}
	try:
		for batch in script.batches:
			if batch.conn not in conns:
				conns[batch.conn] = target.connect()
			c = conns[batch.conn]
			time.sleep(batch.pause)
			c.send(batch.wire)
			answers.append(read_oracle(c, batch, skipping.get(batch.conn, False)))
			skipping[batch.conn] = still_skipping(answers[-1], skipping.get(batch.conn, False))
	finally:
		for c in conns.values():
			c.close()
	return answers


class Difference(Exception):
	pass


def read_more(c, got, limit=40):
	"""after a difference: what else the pooler says, for the report"""
	while len(got) < limit:
		try:
			t, b = c.read(1.0)
		except (Timeout, EOFError, OSError) as e:
			got.append("<%s>" % (str(e) or type(e).__name__))
			return
		got.append(fmt_msg(t, b))
		if t == b"Z":
			return


def report(script, bi, want, got, i, why):
	script.first_diff = (want[i] if i < len(want) else None, got[i] if i < len(got) else None)
	b = script.batches[bi]
	out = ["DIFFERENCE in %s, connection %s, batch %d (%s):" % (script.name, b.conn, bi + 1, why)]
	lines = b.lines if len(b.lines) <= 40 else \
		b.lines[:30] + ["... (%d lines in all)" % len(b.lines)] + b.lines[-5:]
	out += ["  > " + l for l in lines]
	ctx = max(0, i - 2)
	out.append("  PostgreSQL, from message %d:" % (ctx + 1))
	out += listing(want, ctx, i)
	out.append("  pgring, from message %d:" % (ctx + 1))
	out += listing(got, ctx, i)
	return "\n".join(out)


def listing(msgs, start, mark, limit=30):
	"""messages from start on, a run of the same message on one line"""
	out, k = [], start
	while k < len(msgs) and len(out) < limit:
		n = 1
		while k + n < len(msgs) and msgs[k + n] == msgs[k] and not k < mark < k + n + 1:
			n += 1
		out.append("    %s %s%s" % ("!" if k == mark else " ", msgs[k], " (x%d)" % n if n > 1 else ""))
		k += n
	if k < len(msgs):
		out.append("      ... (%d messages in all)" % len(msgs))
	return out


def play_pooler(script, target, answers):
	"""run the script through the pooler, comparing each answer as it comes;
	raises Difference with the report"""
	conns = {}
	try:
		for bi, batch in enumerate(script.batches):
			if batch.conn not in conns:
				try:
					conns[batch.conn] = target.connect()
				except Exception as e:
					raise Difference(report(script, bi, answers[bi], ["<login: %s>" % e], 0, "login"))
			c = conns[batch.conn]
			want = answers[bi]
			got = []
			time.sleep(batch.pause)
			try:
				c.send(batch.wire)
			except OSError as e:
				raise Difference(report(script, bi, want, ["<send: %s>" % e], 0, "send failed"))
			for i, w in enumerate(want):
				try:
					t, b = c.read(READ_TIMEOUT)
				except Timeout:
					got.append("<no answer in %g s>" % READ_TIMEOUT)
					raise Difference(report(script, bi, want, got, i, "pgring is silent"))
				except (EOFError, OSError) as e:
					got.append("<%s>" % e)
					raise Difference(report(script, bi, want, got, i, "connection lost"))
				got.append(fmt_msg(t, b))
				if got[-1] != w:
					read_more(c, got)
					raise Difference(report(script, bi, want, got, i, "messages differ"))
		for name, c in conns.items():
			try:
				t, b = c.read(TAIL_QUIET)
			except (Timeout, EOFError, OSError):
				continue
			got = [fmt_msg(t, b)]
			read_more(c, got)
			last = max(bi for bi, b in enumerate(script.batches) if b.conn == name)
			raise Difference(report(script, last, answers[last], answers[last] + got,
						len(answers[last]), "pgring sent more"))
	finally:
		for c in conns.values():
			try:
				c.close()
			except OSError:
				pass


def tls_line(pg, pooler):
	"""what the run's connections were, so a log shows TLS was on"""
	if not pg.tls:
		return "connections in clear text"
	return "connections over TLS: PostgreSQL %s, pooler %s" % (
		",".join(sorted(pg.versions)) or "none", ",".join(sorted(pooler.versions)) or "none")


def targets(args):
	"""PostgreSQL and the pooler, both over TLS with --tls"""
	ctx = None
	if args.tls:
		ctx = ssl.create_default_context(cafile=args.tls)
	return (Target(args.host, args.pg_port, args.user, args.db, args.password, ctx, args.tls_name),
		Target(args.host, args.pooler_port, args.user, args.pooler_db or args.db, args.password,
		       ctx, args.tls_name))


# ---- fixed scripts ---------------------------------------------------------------

def run_scripts(args):
	pg, pooler = targets(args)
	failed = ran = 0
	for path in args.files:
		name = os.path.basename(path)
		try:
			with open(path) as f:
				script = Script(name, f.read())
		except (ScriptError, ValueError) as e:
			print("not ok %s: bad script: %s" % (name, e))
			failed += 1
			continue
		if args.mode and args.mode not in script.modes:
			continue
		ran += 1
		t0 = time.monotonic()
		try:
			answers = play_oracle(script, pg)
		except Exception as e:
			print("not ok %s: PostgreSQL itself: %r" % (name, e))
			failed += 1
			continue
		try:
			play_pooler(script, pooler, answers)
		except Difference as d:
			print("not ok %s [%s]\n%s" % (name, args.mode or "?", d))
			failed += 1
			continue
		n = sum(len(a) for a in answers)
		print("ok %s [%s]: %d batches, %d messages the same (%.1f s)" %
		      (name, args.mode or "?", len(script.batches), n, time.monotonic() - t0))
	print("%d of %d scripts differ; %s" % (failed, ran, tls_line(pg, pooler)))
	return 1 if failed else 0


# ---- generated scripts -------------------------------------------------------------

# Statement texts the clients share, so that pgring shares them per server too.
TEXTS = [
	("select $1::int + 1 as a", lambda r: [str(r.randint(-5, 99))]),
	("select g, 'r' || g as b from generate_series(1, $1::int) g order by g",
	 lambda r: [str(r.randint(0, 6))]),
	# the error is at Execute whatever the plan: "10 / $1" is folded at Bind
	# in a custom plan but not in a generic one, and pgring legitimately
	# re-prepares (so re-plans) statements
	("select 10 / g as q from generate_series($1::int, $1::int) g", lambda r: [str(r.choice([0, 1, 2, 5]))]),
	("select $1::text || $2::text as c", lambda r: [r.choice(["x", "yy", ""]), r.choice(["z", "", "w w"])]),
	("select 'fixed'::text as t, 42 as n", lambda r: []),
	("values (1, 'a'), (2, NULL), (3, 'c')", lambda r: []),
	("select count(*) from generate_series(1, $1::int)", lambda r: [str(r.randint(1, 50))]),
	("select $1::int as i, $2::text as t", lambda r: [r.choice(["7", "x"]), r.choice(["t", "NULL"])]),
]
SIMPLE = [
	"select 1", "select 1/0", "select 1; select 2", "select 1; select 1/0; select 3",
	"", ";", "select 'x'::int", "selec 1", "do $$ begin raise notice 'note %', 7; end $$",
	"select g from generate_series(1, 3) g order by g", "copy (select g, 'v' || g from generate_series(1, 3) g) to stdout",
	"values (1, 'one'), (2, 'two')", "select null::text as n, true as b",
	"do $$ begin raise warning 'careful'; raise notice 'ok'; end $$",
	"show DateStyle", "select current_setting('application_name')", "show TimeZone", "show IntervalStyle",
]
NAMED = re.compile(r"^(P s|D S s|B \S+ s|C S s)", re.M)
FORGETS = re.compile(r"^Q (deallocate|discard) all$")
SIMPLE_ERRORS = {"select 1/0", "select 1; select 1/0; select 3", "select 'x'::int", "selec 1"}
TRACKED = [  # session SETs pgring keeps across servers (the tracked parameters)
	"set application_name = 'app_%d'", "set DateStyle = '%s'", "set TimeZone = '%s'", "set IntervalStyle = '%s'",
]
TRACKED_VALUES = {"DateStyle": ["ISO, MDY", "German", "SQL, DMY"], "TimeZone": ["UTC", "Europe/Paris", "Asia/Tokyo"],
		  "IntervalStyle": ["postgres", "iso_8601", "sql_standard"]}
LOCALS = ["set local work_mem = '%dMB'", "set local application_name = 'loc%d'",
	  "set local extra_float_digits = %d", "set local DateStyle = 'German'"]


def unit_starts(rest):
	"""whether rest (lines of an extended batch) starts a unit, Flushes and
	write ends aside: a Parse, a Bind or Close of a named statement, or none"""
	for l in rest:
		if l not in ("H", ""):
			return l.startswith("P ") or l.startswith("C S ") or re.match(r"B \S+ (s\d|nosuch)", l)
	return True


class Gen:
	"""one client's script: valid under transaction pooling, i.e. its answers
	depend on no session state that pgring legitimately does not keep"""

	def __init__(self, rng, avoid):
		self.r = rng
		self.avoid = avoid
		self.stmts = {}		# named statements the client believes exist: name -> text index
		self.block = False	# inside BEGIN..COMMIT
		self.failed = False	# the block is in error (status E)
		self.portals = []	# named portals open in the block
		self.temp = 0		# temp tables made in the block (on commit drop)
		self.pipe, self.more = 0.3, 3	# how often and how many units share a write
		self.named = True	# named statements too (pgring manages them)
		self.rq = None		# its own draws: a simple Query inside a Sync batch
		self.ru = None		# its own draws: a Bind of the unnamed statement alone
		self.out = []

	def chunk(self, lines):
		self.out.append("\n".join(lines))	# an empty line within ends a write too

	def params(self, ti):
		ps = TEXTS[ti][1](self.r)
		self.param_err = (ti, ps[:1]) in ((2, ["0"]), (7, ["x"]))
		return " ".join(shlex.quote(p) if p != "NULL" else "NULL" for p in ps)

	# -- extended-protocol pieces: each returns lines and whether it errs --
	def new_name(self):
		return "s%d" % self.r.randint(1, 5)

	def parse_named(self):
		name = self.new_name()
		if name in self.stmts and self.r.random() < 0.9:
			return self.use_named()
		ti = self.r.randrange(len(TEXTS))
		lines = ["P %s %s" % (name, TEXTS[ti][0])]
		if "F14" in self.avoid:
			# the name may exist where the generator does not know (a Close
			# skipped after an error): Close first, so it never does
			self.stmts[name] = ti
			return ["C S " + name] + lines, False
		err = name in self.stmts
		if not err:
			self.stmts[name] = ti
		return lines, err

	def use_named(self):
		if not self.stmts:
			return self.parse_named()
		name = self.r.choice(sorted(self.stmts))
		ti = self.stmts[name]
		lines = ["B - %s %s" % (name, self.params(ti))]
		if self.r.random() < 0.3:
			lines.append("D P -")
		lines.append("E - %d" % self.r.choice([0, 0, 0, 1, 2]))
		return lines, self.param_err

	def describe_named(self):
		if not self.stmts:
			return self.parse_named()
		return ["D S %s" % self.r.choice(sorted(self.stmts))], False

	def close_named(self):
		name = self.new_name()
		self.stmts.pop(name, None)
		return ["C S %s" % name], False

	def unnamed(self):
		ti = self.r.randrange(len(TEXTS))
		lines = ["P - %s" % TEXTS[ti][0], "B - - %s" % self.params(ti)]
		if self.r.random() < 0.3:
			lines.insert(1, "D S -")
		lines.append("E -")
		return lines, self.param_err

	def error(self):
		k = self.r.randrange(5)
		if k == 0:
			return ["P - select 1/0", "B - -", "E -"], True
		if k == 1:
			return ["P - selec 1", "B - -", "E -"], True
		if k == 2:
			return ["B - nosuch"], True
		if k == 3:
			return ["P - select $1::int", "B - - notanint", "E -"], True
		return ["P - select 10 / $1::int", "B - - 0", "E -"], True

	def big(self):
		ti = 3
		name = "s9"
		lines = [] if name in self.stmts else ["P %s %s" % (name, TEXTS[ti][0])]
		self.stmts[name] = ti
		lines += ["B - %s repeat(b,%d) x" % (name, self.r.choice([2000, 500000, 1500000])), "E -"]
		return lines, False

	def ext_batch(self):
		"""a Sync batch of extended messages; maybe split in two chunks at a Flush"""
		pieces = [self.parse_named, self.use_named, self.use_named, self.describe_named,
			  self.close_named, self.unnamed, self.error]
		if "F5" not in self.avoid and self.r.random() < 0.03:
			pieces.append(self.big)
		if not self.named:
			pieces = [self.unnamed, self.error]
		if self.failed and self.avoid & {"F1", "N9"}:
			# N9: in a failed block, a Bind of a named statement the server
			# lacks (evicted) gets 25P02 from pgring's Parse of it where
			# PostgreSQL checks the parameter count first (08P01)
			pieces = [self.unnamed, self.error]
		made = []
		for _ in range(self.r.randint(1, 5)):
			piece = self.r.choice(pieces)
			if piece == self.error and self.r.random() < 0.5:
				continue
			made.append(piece())
		if self.r.random() < 0.4:
			made.append(self.error())
		if self.ru and self.ru.random() < 0.15:
			# the unnamed statement of an earlier batch, maybe an earlier
			# transaction (on another server), maybe gone (a Query, a failed
			# Parse): N14.  Whether it errs is not known here
			ti = self.ru.randrange(len(TEXTS))
			ps = " ".join(shlex.quote(p) for p in TEXTS[ti][1](self.ru))
			made.insert(self.ru.randint(0, len(made)), (["B - - " + ps, "E -"], True))
		if "F1" in self.avoid:
			# F1's trigger: a named statement used (so maybe prepared, evicting
			# another) after an error in the batch; errors go after them
			# named statement pieces and Closes keep their order among themselves
			# (a Close moved before a use of its name would make a new error);
			# so no Close follows a known error either (N4)
			made.sort(key=lambda m: 2 if m[1] else 1 if NAMED.search("\n".join(m[0])) else 0)
		lines = [l for m in made for l in m[0]]
		erred = any(m[1] for m in made)
		if erred and self.block:
			self.failed = True
		if self.r.random() < 0.15 and len(lines) > 1 and not (erred and self.avoid & {"N2", "N3"}):
			cut = self.r.randrange(1, len(lines))
			# "" ends a write: the rest follows once the Flush is answered
			lines = lines[:cut] + ["H", ""] + lines[cut:]
		if self.rq and self.rq.random() < 0.12:
			# a Query among the extended messages: skipped if one before it
			# failed (no answer, the Sync's ReadyForQuery for both: N11, N12).
			# Only where a unit starts: a Query drops the unnamed statement,
			# and after its ReadyForQuery (outside a block) the server may go
			# back to the pool, so what follows it must not use what came
			# before it (that would be session state)
			q = self.rq.choice(["select 1", "select 1/0", "select 2; select 3"])
			spots = [i for i in range(len(lines) + 1) if unit_starts(lines[i:])]
			lines.insert(self.rq.choice(spots), "Q " + q)
			if self.block and q in SIMPLE_ERRORS:
				self.failed = True
		return lines + ["S"]

	# -- transaction blocks --
	def begin(self):
		self.block, self.failed, self.portals, self.temp = True, False, [], 0
		if self.r.random() < 0.5:
			return ["Q begin"]
		return ["P - begin", "B - -", "E -", "S"]

	def end(self):
		self.block = False
		self.portals = []
		word = self.r.choice(["commit", "rollback", "end"])
		if self.r.random() < 0.5:
			return ["Q " + word]
		return ["P - " + word, "B - -", "E -", "S"]

	def in_block(self):
		r = self.r
		k = r.randrange(8)
		if k == 0:
			return ["Q " + r.choice(LOCALS).replace("%d", str(r.randint(1, 9)))]
		if k == 1 and self.stmts:
			# a named portal, read in parts over several Syncs
			p = "p%d" % (len(self.portals) + 1)
			self.portals.append(p)
			return ["P - " + TEXTS[1][0], "B %s - 5" % p, "E %s 2" % p, "S"]
		if k == 2 and self.portals:
			p = r.choice(self.portals)
			if r.random() < 0.3:
				self.portals.remove(p)
				return ["E %s 0" % p, "C P %s" % p, "S"]
			if r.random() < 0.2 and not (self.failed and self.avoid & {"N2", "N3"}):
				# the batch goes on after the Flush's answers, and ends with Sync
				return ["E %s 1" % p, "H", "", "E %s 1" % p, "S"]
			return ["E %s 2" % p, "S"]
		if k == 3:
			self.temp += 1
			t = "tmp%d" % self.temp
			lines = ["Q create temp table %s (a int, b text) on commit drop" % t]
			if r.random() < 0.5:
				lines += ["Q copy %s from stdin" % t]
			else:
				lines += ["P - copy %s from stdin" % t, "B - -", "E -"]
			lines += ["d %d\\tx%d\\n" % (i, i) for i in range(r.randint(0, 3))]
			if r.random() < 0.15:
				lines.append("f no thanks")
				self.failed = True
			else:
				lines.append("c")
			if lines[1].startswith("P"):
				lines.append("S")
			lines.append("Q select * from %s order by a" % t)
			return lines
		if k == 4:
			q = "select 1/0" if r.random() < 0.3 else r.choice(SIMPLE)
			self.failed = self.failed or q in SIMPLE_ERRORS
			return ["Q " + q]
		if k == 5:
			if r.random() < 0.2:
				self.failed = True	# DISCARD ALL cannot run inside a transaction block
				return ["Q discard all"]
			self.stmts.clear()
			return ["Q deallocate all"]
		return self.ext_batch()

	def simple(self):
		r = self.r
		k = r.randrange(10)
		if k == 0:
			s = r.choice(TRACKED)
			name = s.split()[1]
			v = r.randint(1, 9) if "%d" in s else r.choice(TRACKED_VALUES[name])
			return ["Q " + s % v]
		if k == 1:
			self.stmts.clear()
			return ["Q " + r.choice(["discard all", "deallocate all", "deallocate all"])]
		if k == 2:
			return ["P - copy (select g from generate_series(1, %d) g) to stdout" % r.randint(0, 3),
				"B - -", "E -", "S"]
		return ["Q " + r.choice(SIMPLE)]

	def unit(self):
		if self.block:
			if self.r.random() < (0.5 if self.failed else 0.2):
				return self.end()
			return self.in_block()
		k = self.r.random()
		if k < 0.15:
			return self.begin()
		if k < 0.45:
			return self.simple()
		return self.ext_batch()

	def script(self, n_chunks):
		for _ in range(n_chunks):
			lines = self.unit()
			if not self.block and self.r.random() < self.pipe:
				# pipelined: more units in the same write
				for _ in range(self.r.randint(1, self.more)):
					if "N1" in self.avoid and FORGETS.search(lines[-1]):
						break
					lines += self.unit()
					if self.block:
						break
			self.chunk(lines)
		if self.block:
			self.chunk(self.end())
		return "\n\n".join(self.out) + "\n"


def run_params(seed):
	r = random.Random("config:%d" % seed)
	p = {"pool": r.randint(1, 2), "mps": r.randint(1, 3), "clients": r.randint(8, 20),
	     "chunks": r.randint(10, 30)}
	# one run in three pipelines harder: more writes of several Sync batches,
	# where an error in one meets statements prepared or evicted in the next
	# (N10); the others keep the draws (and scripts) they always had
	h = random.Random("pipe:%d" % seed)
	p["pipe"], p["more"] = (0.7, 5) if h.random() < 1 / 3 else (0.3, 3)
	# one run in four where pgring does not manage the statements but still
	# follows the requests (errors, skipped Queries: N12): session mode, a
	# server per client all along, or transaction mode with
	# max_prepared_statements = 0 and unnamed statements only (named ones
	# are then per server, as documented)
	m = random.Random("mode:%d" % seed).random()
	p["mode"], p["named"] = "transaction", True
	if m < 1 / 8:
		p["mode"], p["pool"] = "session", p["clients"]
	elif m < 1 / 4:
		p["mps"], p["named"] = 0, False
	return p


def gen_scripts(seed, avoid):
	p = run_params(seed)
	out = []
	for i in range(p["clients"]):
		g = Gen(random.Random("%d:%d" % (seed, i)), avoid)
		g.pipe, g.more, g.named = p["pipe"], p["more"], p["named"]
		g.rq = random.Random("q:%d:%d" % (seed, i))	# the other draws stay as they were
		g.ru = random.Random("u:%d:%d" % (seed, i))
		text = "# seed %d client %d (%s mode, pool %d, max_prepared_statements %d)\n" % (
			seed, i, p["mode"], p["pool"], p["mps"])
		out.append(Script("seed %d client %d" % (seed, i), text + g.script(p["chunks"])))
		out[-1].client = i
	return out


def differs(text, pg, pooler):
	"""the first differing pair of messages of a script, or None"""
	script = Script("candidate", text)
	try:
		answers = play_oracle(script, pg)
	except Exception:
		return None
	try:
		play_pooler(script, pooler, answers)
	except Difference:
		# pgring numbers its server-side names afresh in every run
		return tuple(re.sub(r"PGRING_\d+", "PGRING_n", m or "") for m in script.first_diff)
	return None


def minimize(args):
	"""drop batches, then lines, while the same first difference stays"""
	pg, pooler = targets(args)
	with open(args.files[0]) as f:
		lines = [l for l in f.read().split("\n") if not l.startswith("#")]
	want = differs("\n".join(lines), pg, pooler)
	if want is None:
		print("# no difference to minimize")
		return 1
	for unit in ("batch", "line"):
		i = 0
		while i < len(lines):
			if unit == "batch":
				j = i
				while j < len(lines) and lines[j].strip():
					j += 1
				cut = lines[:i] + lines[j + 1:]
			else:
				j = i
				cut = lines[:i] + lines[i + 1:]
			if lines[i].strip() and differs("\n".join(cut), pg, pooler) == want:
				lines = cut
				continue
			i = j + 1 if unit == "batch" else i + 1
	print("# first difference: PostgreSQL %r, pgring %r" % want)
	print("\n".join(lines).strip() + "\n")
	return 0


def kind(first):
	"""a guess at which known finding a first difference is (for triage only)"""
	want, got = (m or "" for m in first)
	if "PGRING_" in got and (" 42P05 " in got or " 26000 " in got):
		return "F1? (pgring's server-side statements out of step)"
	if "too long for pgring to inspect" in got:
		return "F5 (large named Bind)"
	if " 42P05 " in want and got.startswith("1"):
		return "F14 (Parse of an existing name)"
	return "new?"


def run_random(args):
	avoid = set((args.avoid or "").replace(",", " ").split())
	p = run_params(args.seed)
	scripts = gen_scripts(args.seed, avoid)
	pg, pooler = targets(args)
	if args.only:
		keep = [int(x) for x in args.only.replace(",", " ").split()]
		scripts = [s for i, s in enumerate(scripts) if i in keep]
	answers, errors = [None] * len(scripts), [None] * len(scripts)

	def oracle(i):
		try:
			answers[i] = play_oracle(scripts[i], pg)
		except Exception as e:
			errors[i] = "PostgreSQL itself: %r" % e

	def pooled(i):
		try:
			play_pooler(scripts[i], pooler, answers[i])
		except Difference as d:
			errors[i] = str(d)
		except Exception as e:
			errors[i] = "driver: %r" % e

	t0 = time.monotonic()
	for fn, which in ((oracle, range(len(scripts))), (pooled, None)):
		if which is None:
			bad = [i for i, e in enumerate(errors) if e]
			if bad:
				break
			which = range(len(scripts))
		threads = [threading.Thread(target=fn, args=(i,)) for i in which]
		for t in threads:
			t.start()
		for t in threads:
			t.join()
	bad = [i for i, e in enumerate(errors) if e]
	kinds = {}
	for i in bad:
		k = kind(scripts[i].first_diff) if hasattr(scripts[i], "first_diff") else "tester"
		kinds[k] = kinds.get(k, 0) + 1
	msgs = sum(len(m) for a in answers if a for m in a)
	print("seed %d: %d clients, %s mode, pool %d, max_prepared_statements %d: %d batches, "
	      "%d messages compared, %d differ (%.1f s)" % (args.seed, len(scripts), p["mode"], p["pool"], p["mps"],
				      sum(len(s.batches) for s in scripts), msgs, len(bad), time.monotonic() - t0))
	print("    " + tls_line(pg, pooler))
	for k, n in sorted(kinds.items()):
		print("    %d client(s): %s" % (n, k))
	for i in bad:
		print("--- %s: %s" % (scripts[i].name, errors[i]))
		print("--- its script (difftest.py show --seed %d --client %d):" % (args.seed, scripts[i].client))
		print(scripts[i].text)
	return 1 if bad else 0


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("cmd", choices=["scripts", "random", "random-config", "show", "minimize"])
	ap.add_argument("files", nargs="*")
	ap.add_argument("--host", default="127.0.0.1")
	ap.add_argument("--pg-port", type=int)
	ap.add_argument("--pooler-port", type=int)
	ap.add_argument("--user", default="u_trust")
	ap.add_argument("--password")
	ap.add_argument("--db", default="testdb")
	ap.add_argument("--tls", metavar="CA_FILE", help="TLS to both, verified against CA_FILE")
	ap.add_argument("--tls-name", default="localhost", help="the name the certificates must bear (--tls)")
	ap.add_argument("--pooler-db")
	ap.add_argument("--mode", help="the pool mode pgring runs in (scripts not valid for it are left out)")
	ap.add_argument("--seed", type=int)
	ap.add_argument("--client", type=int)
	ap.add_argument("--only", help="random: run only these clients (numbers)")
	ap.add_argument("--timeout", type=float, help="seconds to wait for an answer (scripts: 5, random: 15)")
	ap.add_argument("--avoid", help="known findings the generator should not trigger: F1 F5 F14 N1 N2 N3 N9 (F1 also covers N4)")
	args = ap.parse_intermixed_args()
	if args.cmd == "random-config":
		p = run_params(args.seed)
		print("pool_mode = %s\ndefault_pool_size = %d\nmax_prepared_statements = %d" %
		      (p["mode"], p["pool"], p["mps"]))
		return 0
	if args.cmd == "show":
		avoid = set((args.avoid or "").replace(",", " ").split())
		for i, s in enumerate(gen_scripts(args.seed, avoid)):
			if args.client is None or args.client == i:
				print(s.text)
		return 0
	global READ_TIMEOUT
	READ_TIMEOUT = args.timeout or (5.0 if args.cmd in ("scripts", "minimize") else READ_TIMEOUT)
	if args.pg_port is None or args.pooler_port is None:
		ap.error("--pg-port and --pooler-port are needed")
	if args.cmd == "scripts":
		return run_scripts(args)
	if args.cmd == "minimize":
		return minimize(args)
	return run_random(args)


if __name__ == "__main__":
	sys.exit(main())
