# ruby-pg through Usher in transaction pool mode: N threads, each with its
# own connection, prepare named statements once (conn.prepare: Parse/Sync on
# its own) and run them with exec_prepared (Bind/Execute/Sync, on whichever
# server the client gets then), with explicit transactions that commit or
# roll back. Every value returned is checked here; any mismatch or error
# exits 1. Workload: ../README.md.
#
# Env: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, CLIENTS (8), ITERATIONS (50).
require 'pg'

TABLE = 'usher_clients_ruby_pg'
CLIENTS = Integer(ENV.fetch('CLIENTS', '8'))
ITERATIONS = Integer(ENV.fetch('ITERATIONS', '50'))

class Mismatch < StandardError; end

def connect
  PG.connect(host: ENV.fetch('PGHOST', '127.0.0.1'), port: ENV.fetch('PGPORT', '6432'),
             user: ENV.fetch('PGUSER', 'app'), password: ENV.fetch('PGPASSWORD', ''),
             dbname: ENV.fetch('PGDATABASE', 'appdb'), connect_timeout: 10, sslmode: 'disable')
end

def check(got, want, what)
  raise Mismatch, "#{what}: got #{got.inspect}, expected #{want.inspect}" unless got == want
end

# One client; returns [queries, commits, rollbacks, server backends seen].
def run_client(c)
  conn = connect
  queries = commits = rollbacks = 0
  backends = {}
  # The same names on every client, but the literal client id makes the text
  # of 'mul' differ: a statement mixed up between clients shows.
  conn.prepare('mul', "select $1::int * $2::int, #{c}, pg_backend_pid()")
  conn.prepare('cat', "select $1::text || '/' || $2::text")
  conn.prepare('series', 'select g from generate_series(1, $1::int) g')
  conn.prepare('insert', "insert into #{TABLE} (client, iter) values ($1, $2) returning iter")
  mul = lambda do |a, b, at|
    row = conn.exec_prepared('mul', [a, b]).values
    check(row.size, 1, "#{at}: mul row count")
    product, client, pid = row[0].map { |v| Integer(v) }
    backends[pid] = true
    queries += 1
    check([product, client], [a * b, c], "#{at}: mul")
  end
  committed = committed_iter_sum = 0
  ITERATIONS.times do |i|
    at = "client #{c} iteration #{i}"
    mul.call(c + 1, i + 1, at)
    check(conn.exec_prepared('cat', ["c#{c}", "i#{i}"]).values, [["c#{c}/i#{i}"]], "#{at}: cat")
    queries += 1
    if i % 3 == 0
      n = i % 7 + 1
      got = conn.exec_prepared('series', [n]).column_values(0).map { |v| Integer(v) }
      check(got, (1..n).to_a, "#{at}: series")
      queries += 1
    end
    next unless i % 4 == 1

    # Explicit transaction: BEGIN/COMMIT/ROLLBACK as simple queries, the
    # prepared statements inside.
    conn.exec('BEGIN')
    check(conn.exec_prepared('insert', [c, i]).values, [[i.to_s]], "#{at}: insert")
    mul.call(c + 1, -i, "#{at} (in transaction)")
    queries += 1
    if (i / 4).even?
      conn.exec('COMMIT')
      committed += 1
      committed_iter_sum += i
      commits += 1
    else
      conn.exec('ROLLBACK')
      rollbacks += 1
    end
  end
  # Only the committed inserts are there, none of the rolled back.
  got = conn.exec_params("select count(*)::int, coalesce(sum(iter), 0)::int from #{TABLE} where client = $1",
                         [c]).values
  check(got, [[committed.to_s, committed_iter_sum.to_s]], "client #{c}: committed rows")
  [queries + 1, commits, rollbacks, backends.size]
ensure
  conn&.close
end

start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
setup = connect
setup.set_notice_processor { |_| }
setup.exec("drop table if exists #{TABLE}")
setup.exec("create table #{TABLE} (client int not null, iter int not null)")
setup.close

threads = (0...CLIENTS).map do |c|
  Thread.new do
    run_client(c)
  rescue StandardError => e
    e
  end
end
results = threads.map(&:value)
failures = results.each_with_index.reject { |r, _| r.is_a?(Array) }
unless failures.empty?
  failures.each { |e, c| warn "FAIL client #{c}: #{e.class}: #{e.message}" }
  warn "ruby-pg: #{failures.size} of #{CLIENTS} clients failed"
  exit 1
end
queries, commits, rollbacks = results.transpose[0..2].map(&:sum)
seen = results.map(&:last)
printf("ruby-pg %s: %d clients x %d iterations ok: %d queries, %d commits, %d rollbacks, " \
       "servers per client %d..%d in %.1fs\n", PG::VERSION, CLIENTS, ITERATIONS, queries, commits,
       rollbacks, seen.min, seen.max, Process.clock_gettime(Process::CLOCK_MONOTONIC) - start)
