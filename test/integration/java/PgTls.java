// PgTls.java - pgjdbc through pgring over TLS (scenarios_tlsclients.sh).
// Run from source, nothing compiled ahead (Java 11+'s single-file launcher):
//   java -cp /usr/share/java/postgresql.jar PgTls.java PORT CA_FILE OTHER_CA_FILE
// For sslmode=require and verify-full (host localhost, the test CA): a
// parameterised query run often enough that pgjdbc names it on the server,
// a committed and a rolled-back transaction, pg_stat_ssl (the server side of
// pgring) and SHOW CLIENTS' tls column (the client side), one line each:
//   MODE: param=OK txn=3 server_ssl=t client_tls=TLSv1.3/...
// then verify-full with another CA and with a name the certificate lacks,
// which must be refused:  wrong-ca: refused: MESSAGE
// Exits 0 once every line is printed; the scenario judges the lines.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class PgTls {
	static int port;

	static Connection open(String host, String db, String mode, String ca, String app) throws SQLException {
		Properties p = new Properties();
		p.setProperty("user", "u_trust");
		p.setProperty("sslmode", mode);
		if (ca != null)
			p.setProperty("sslrootcert", ca);
		p.setProperty("ApplicationName", app);
		p.setProperty("connectTimeout", "5");
		p.setProperty("socketTimeout", "30");
		// the admin console speaks the simple protocol only
		if (db.equals("pgbouncer"))
			p.setProperty("preferQueryMode", "simple");
		return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/" + db, p);
	}

	static String one(Connection c, String sql, String arg) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			ps.setString(1, arg);
			try (ResultSet rs = ps.executeQuery()) {
				return rs.next() ? rs.getString(1) : "no row";
			}
		}
	}

	static String scalar(Connection c, String sql) throws SQLException {
		try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
			return rs.next() ? rs.getString(1) : "no row";
		}
	}

	// past prepareThreshold (5) pgjdbc uses a named server-side statement
	static String param(Connection c) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1")) {
			for (int i = 0; i < 8; i++) {
				ps.setInt(1, i * 10);
				try (ResultSet rs = ps.executeQuery()) {
					if (!rs.next() || rs.getInt(1) != i * 10 + 1)
						return "wrong answer at " + i;
				}
			}
		}
		return "OK";
	}

	static String txn(Connection c, String who) throws SQLException {
		c.setAutoCommit(false);
		try (PreparedStatement ps = c.prepareStatement("INSERT INTO tlsc_t (who, n) VALUES (?, ?)")) {
			ps.setString(1, who);
			ps.setInt(2, 1);
			ps.executeUpdate();
			ps.setInt(2, 2);
			ps.executeUpdate();
			c.commit();
			ps.setInt(2, 100);
			ps.executeUpdate();
			c.rollback();
		}
		c.setAutoCommit(true);
		return one(c, "SELECT sum(n) FROM tlsc_t WHERE who = ?", who);
	}

	// the tls column of this application's client in SHOW CLIENTS
	static String clientTls(String app) throws SQLException {
		try (Connection a = open("localhost", "pgbouncer", "require", null, app + "_admin");
		     Statement st = a.createStatement(); ResultSet rs = st.executeQuery("SHOW CLIENTS")) {
			while (rs.next())
				if (app.equals(rs.getString("application_name")) && "testdb".equals(rs.getString("database")))
					return rs.getString("tls");
		}
		return "no client " + app;
	}

	static void good(String mode, String ca) throws SQLException {
		String app = "jdbc_" + mode.replace('-', '_');
		try (Connection c = open("localhost", "testdb", mode, ca, app)) {
			System.out.println(mode + ": param=" + param(c) + " txn=" + txn(c, app)
				+ " server_ssl=" + scalar(c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
				+ " client_tls=" + clientTls(app));
		}
	}

	static void bad(String label, String host, String ca) {
		try (Connection c = open(host, "testdb", "verify-full", ca, "jdbc_bad")) {
			System.out.println(label + ": connected");
		} catch (SQLException e) {
			String m = String.valueOf(e.getMessage());
			for (Throwable t = e.getCause(); t != null; t = t.getCause())
				m += " / " + t.getMessage();
			System.out.println(label + ": refused: " + m.replace('\n', ' '));
		}
	}

	public static void main(String[] args) throws Exception {
		port = Integer.parseInt(args[0]);
		good("require", null);
		good("verify-full", args[1]);
		bad("wrong-ca", "localhost", args[2]);
		bad("wrong-name", "127.0.0.1", args[1]);
	}
}
