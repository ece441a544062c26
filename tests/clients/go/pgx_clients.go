// pgx v4 through Usher in transaction pool mode: N goroutines, each with its
// own connection and pgx's default statement cache (every query becomes a
// named statement "lrupsc_<n>_<m>", prepared once per connection), run
// queries and batches concurrently, with transactions that commit or roll
// back. Every value returned is checked here; any mismatch or error exits 1.
// Workload: ../README.md.
//
// Built in GOPATH mode against Debian's golang-github-jackc-pgx-v4-dev:
//
//	GO111MODULE=off GOPATH=$tmp:/usr/share/gocode go build -o pgx_clients pgx_clients.go
//
// Env: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE, CLIENTS (8), ITERATIONS (50).
package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v4"
)

const table = "usher_clients_pgx"

var queries, commits, rollbacks int64

func env(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

func connect(ctx context.Context) (*pgx.Conn, error) {
	// No statement_cache_mode here: the default ("prepare", 512 entries).
	dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
		env("PGHOST", "127.0.0.1"), env("PGPORT", "6432"), env("PGUSER", "app"),
		env("PGPASSWORD", ""), env("PGDATABASE", "appdb"))
	return pgx.Connect(ctx, dsn)
}

// runClient returns the number of distinct server backends the client saw.
func runClient(ctx context.Context, c, iterations int) (int, error) {
	conn, err := connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())

	// The literal client id makes the text of mul differ per client.
	mulSQL := fmt.Sprintf("select $1::int * $2::int as product, %d as client, pg_backend_pid()", c)
	catSQL := "select $1::text || '/' || $2::text"
	backends := map[int32]bool{}
	mul := func(q interface {
		QueryRow(context.Context, string, ...interface{}) pgx.Row
	}, a, b int, at string) error {
		var product, client int
		var pid int32
		if err := q.QueryRow(ctx, mulSQL, a, b).Scan(&product, &client, &pid); err != nil {
			return fmt.Errorf("%s: mul: %w", at, err)
		}
		atomic.AddInt64(&queries, 1)
		backends[pid] = true
		if product != a*b || client != c {
			return fmt.Errorf("%s: mul returned (%d, %d), expected (%d, %d)", at, product, client, a*b, c)
		}
		return nil
	}

	committed, committedIterSum := 0, 0
	for i := 0; i < iterations; i++ {
		at := fmt.Sprintf("client %d iteration %d", c, i)
		if err := mul(conn, c+1, i+1, at); err != nil {
			return 0, err
		}
		var s string
		if err := conn.QueryRow(ctx, catSQL, "c"+strconv.Itoa(c), "i"+strconv.Itoa(i)).Scan(&s); err != nil {
			return 0, fmt.Errorf("%s: cat: %w", at, err)
		}
		atomic.AddInt64(&queries, 1)
		if want := fmt.Sprintf("c%d/i%d", c, i); s != want {
			return 0, fmt.Errorf("%s: cat returned %q, expected %q", at, s, want)
		}
		if i%3 == 0 {
			n := i%7 + 1
			rows, err := conn.Query(ctx, "select g from generate_series(1, $1::int) g", n)
			if err != nil {
				return 0, fmt.Errorf("%s: series: %w", at, err)
			}
			var got, want []int
			for rows.Next() {
				var g int
				if err := rows.Scan(&g); err != nil {
					return 0, fmt.Errorf("%s: series scan: %w", at, err)
				}
				got = append(got, g)
			}
			if err := rows.Err(); err != nil {
				return 0, fmt.Errorf("%s: series: %w", at, err)
			}
			for g := 1; g <= n; g++ {
				want = append(want, g)
			}
			if !reflect.DeepEqual(got, want) {
				return 0, fmt.Errorf("%s: series returned %v, expected %v", at, got, want)
			}
			atomic.AddInt64(&queries, 1)
		}
		if i%5 == 2 {
			// A batch: the cached statements' Bind/Execute pipelined, one Sync.
			b := &pgx.Batch{}
			b.Queue(catSQL, "b"+strconv.Itoa(c), "j"+strconv.Itoa(i))
			b.Queue(mulSQL, c+1, 1000+i)
			br := conn.SendBatch(ctx, b)
			var product, client int
			var pid int32
			err1 := br.QueryRow().Scan(&s)
			err2 := br.QueryRow().Scan(&product, &client, &pid)
			err3 := br.Close()
			for _, e := range []error{err1, err2, err3} {
				if e != nil {
					return 0, fmt.Errorf("%s: batch: %w", at, e)
				}
			}
			if s != fmt.Sprintf("b%d/j%d", c, i) || product != (c+1)*(1000+i) || client != c {
				return 0, fmt.Errorf("%s: batch returned (%q, %d, %d)", at, s, product, client)
			}
			atomic.AddInt64(&queries, 2)
		}
		if i%4 == 1 {
			tx, err := conn.Begin(ctx)
			if err != nil {
				return 0, fmt.Errorf("%s: begin: %w", at, err)
			}
			var iter int
			if err := tx.QueryRow(ctx, "insert into "+table+" (client, iter) values ($1, $2) returning iter",
				c, i).Scan(&iter); err != nil || iter != i {
				return 0, fmt.Errorf("%s: insert returned %d, %v", at, iter, err)
			}
			atomic.AddInt64(&queries, 1)
			if err := mul(tx, c+1, -i, at+" (in transaction)"); err != nil {
				return 0, err
			}
			if (i/4)%2 == 0 {
				err = tx.Commit(ctx)
				committed++
				committedIterSum += i
				atomic.AddInt64(&commits, 1)
			} else {
				err = tx.Rollback(ctx)
				atomic.AddInt64(&rollbacks, 1)
			}
			if err != nil {
				return 0, fmt.Errorf("%s: commit/rollback: %w", at, err)
			}
		}
	}
	// Only the committed inserts are there, none of the rolled back.
	var n, sum int
	if err := conn.QueryRow(ctx, "select count(*)::int, coalesce(sum(iter), 0)::int from "+table+
		" where client = $1", c).Scan(&n, &sum); err != nil {
		return 0, fmt.Errorf("client %d: count: %w", c, err)
	}
	atomic.AddInt64(&queries, 1)
	if n != committed || sum != committedIterSum {
		return 0, fmt.Errorf("client %d: table has %d rows (iter sum %d), expected %d (iter sum %d)",
			c, n, sum, committed, committedIterSum)
	}
	return len(backends), nil
}

func main() {
	clients, _ := strconv.Atoi(env("CLIENTS", "8"))
	iterations, _ := strconv.Atoi(env("ITERATIONS", "50"))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	start := time.Now()

	setup, err := connect(ctx)
	if err == nil {
		_, err = setup.Exec(ctx, "drop table if exists "+table)
	}
	if err == nil {
		_, err = setup.Exec(ctx, "create table "+table+" (client int not null, iter int not null)")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgx: setup: %v\n", err)
		os.Exit(1)
	}
	setup.Close(ctx)

	var wg sync.WaitGroup
	errs := make([]error, clients)
	seen := make([]int, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			seen[c], errs[c] = runClient(ctx, c, iterations)
		}(c)
	}
	wg.Wait()
	failed := 0
	for c, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL client %d: %v\n", c, err)
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "pgx: %d of %d clients failed\n", failed, clients)
		os.Exit(1)
	}
	lo, hi := seen[0], seen[0]
	for _, s := range seen {
		if s < lo {
			lo = s
		}
		if s > hi {
			hi = s
		}
	}
	fmt.Printf("pgx v4: %d clients x %d iterations ok: %d queries, %d commits, %d rollbacks, "+
		"servers per client %d..%d in %.1fs\n", clients, iterations, queries, commits, rollbacks,
		lo, hi, time.Since(start).Seconds())
}
