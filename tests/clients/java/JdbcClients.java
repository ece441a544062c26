// pgjdbc through Usher in transaction pool mode: N threads, each with its own
// connection, run server-prepared statements (prepareThreshold=1) in a loop,
// with explicit transactions that commit or roll back. Every value returned
// is checked here; any mismatch or error exits 1. Workload: ../README.md.
//
// Usage: java -cp <classes>:/usr/share/java/postgresql.jar JdbcClients
// Env: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, CLIENTS (8), ITERATIONS (50).

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.HashSet;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

public class JdbcClients {
    static final String TABLE = "usher_clients_jdbc";
    static final AtomicLong queries = new AtomicLong();
    static final AtomicLong commits = new AtomicLong();
    static final AtomicLong rollbacks = new AtomicLong();

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    static Connection connect() throws SQLException {
        String url = "jdbc:postgresql://" + env("PGHOST", "127.0.0.1") + ":" + env("PGPORT", "6432")
                + "/" + env("PGDATABASE", "appdb");
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER", "app"));
        props.setProperty("password", env("PGPASSWORD", ""));
        // Server-prepare every statement from its first execution: named
        // statements S_1, S_2, ... that must follow the client across servers.
        props.setProperty("prepareThreshold", "1");
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");
        return DriverManager.getConnection(url, props);
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new IllegalStateException("mismatch: " + what);
    }

    // One client: its own connection and prepared statements, reused in a
    // loop. Returns how many server backends it was served by.
    static int runClient(int c, int iterations) throws SQLException {
        Set<Integer> backends = new HashSet<>();
        try (Connection conn = connect()) {
            // The literal client id makes the SQL text differ per client, so
            // the same statement name (S_n) means a different query on every
            // client: a mix-up between clients shows in the returned value.
            PreparedStatement mul = conn.prepareStatement(
                    "select ?::int * ?::int as product, " + c + " as client, pg_backend_pid()");
            PreparedStatement cat = conn.prepareStatement("select ?::text || '/' || ?::text");
            PreparedStatement series = conn.prepareStatement("select g from generate_series(1, ?::int) g");
            PreparedStatement insert = conn.prepareStatement(
                    "insert into " + TABLE + " (client, iter) values (?, ?)");
            int committed = 0;
            long committedIterSum = 0;
            for (int i = 0; i < iterations; i++) {
                String at = "client " + c + " iteration " + i + ": ";
                mul.setInt(1, c + 1);
                mul.setInt(2, i + 1);
                try (ResultSet rs = mul.executeQuery()) {
                    check(rs.next(), at + "mul returned no row");
                    int product = rs.getInt(1), client = rs.getInt(2);
                    backends.add(rs.getInt(3));
                    check(product == (c + 1) * (i + 1) && client == c,
                            at + "mul returned (" + product + ", " + client + "), expected ("
                                    + (c + 1) * (i + 1) + ", " + c + ")");
                }
                cat.setString(1, "c" + c);
                cat.setString(2, "i" + i);
                try (ResultSet rs = cat.executeQuery()) {
                    check(rs.next(), at + "cat returned no row");
                    String got = rs.getString(1), want = "c" + c + "/i" + i;
                    check(want.equals(got), at + "cat returned " + got + ", expected " + want);
                }
                queries.addAndGet(2);
                if (i % 3 == 0) {
                    int n = i % 7 + 1;
                    series.setInt(1, n);
                    List<Integer> rows = new ArrayList<>();
                    try (ResultSet rs = series.executeQuery()) {
                        while (rs.next()) rows.add(rs.getInt(1));
                    }
                    List<Integer> want = new ArrayList<>();
                    for (int g = 1; g <= n; g++) want.add(g);
                    check(rows.equals(want), at + "series returned " + rows + ", expected " + want);
                    queries.incrementAndGet();
                }
                if (i % 4 == 1) {
                    // Explicit transaction: pgjdbc sends BEGIN with the first
                    // statement and server-prepares COMMIT/ROLLBACK as well.
                    conn.setAutoCommit(false);
                    insert.setInt(1, c);
                    insert.setInt(2, i);
                    check(insert.executeUpdate() == 1, at + "insert did not insert one row");
                    mul.setInt(1, c + 1);
                    mul.setInt(2, -i);
                    try (ResultSet rs = mul.executeQuery()) {
                        check(rs.next() && rs.getInt(1) == -(c + 1) * i && rs.getInt(2) == c,
                                at + "mul in transaction returned a wrong row");
                    }
                    queries.addAndGet(2);
                    if ((i / 4) % 2 == 0) {
                        conn.commit();
                        committed++;
                        committedIterSum += i;
                        commits.incrementAndGet();
                    } else {
                        conn.rollback();
                        rollbacks.incrementAndGet();
                    }
                    conn.setAutoCommit(true);
                }
            }
            // Only the committed inserts are there, none of the rolled back.
            try (PreparedStatement count = conn.prepareStatement(
                    "select count(*)::int, coalesce(sum(iter), 0)::int from " + TABLE + " where client = ?")) {
                count.setInt(1, c);
                try (ResultSet rs = count.executeQuery()) {
                    check(rs.next(), "client " + c + ": count returned no row");
                    int n = rs.getInt(1), sum = rs.getInt(2);
                    check(n == committed && sum == committedIterSum,
                            "client " + c + ": table has " + n + " rows (iter sum " + sum + "), expected "
                                    + committed + " (iter sum " + committedIterSum + ")");
                }
            }
            queries.incrementAndGet();
        }
        return backends.size();
    }

    public static void main(String[] args) throws Exception {
        int clients = Integer.parseInt(env("CLIENTS", "8"));
        int iterations = Integer.parseInt(env("ITERATIONS", "50"));
        long start = System.nanoTime();
        try (Connection conn = connect(); Statement st = conn.createStatement()) {
            st.execute("drop table if exists " + TABLE);
            st.execute("create table " + TABLE + " (client int not null, iter int not null)");
        }
        List<Thread> threads = new ArrayList<>();
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        int[] seen = new int[clients];
        for (int c = 0; c < clients; c++) {
            final int id = c;
            Thread t = new Thread(() -> {
                try {
                    seen[id] = runClient(id, iterations);
                } catch (Throwable e) {
                    failures.add("client " + id + ": " + e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) t.join();
        double secs = (System.nanoTime() - start) / 1e9;
        if (!failures.isEmpty()) {
            for (String f : failures) System.err.println("FAIL " + f);
            System.err.println("pgjdbc: " + failures.size() + " of " + clients + " clients failed");
            System.exit(1);
        }
        int lo = java.util.Arrays.stream(seen).min().getAsInt();
        int hi = java.util.Arrays.stream(seen).max().getAsInt();
        System.out.printf("pgjdbc %s: %d clients x %d iterations ok: %d queries, %d commits, %d rollbacks, "
                + "servers per client %d..%d in %.1fs%n", org.postgresql.util.DriverInfo.DRIVER_VERSION,
                clients, iterations, queries.get(), commits.get(), rollbacks.get(), lo, hi, secs);
    }
}
