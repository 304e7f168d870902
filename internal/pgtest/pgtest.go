// Package pgtest gives tests a fresh PostgreSQL database. The server is either the one named
// by EACGATE_TEST_PG_DSN (an admin DSN that may CREATE DATABASE), or a throwaway cluster
// started once per test binary from the Debian postgresql binaries (initdb/pg_ctl, run as
// user postgres when the tests run as root) on 127.0.0.1 and a free port, with trust auth.
// Without a server the test skips, or fails under CI=true.
//
// Packages using DSN must stop the cluster at exit:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvDSN names the environment variable holding an admin DSN of an existing server.
const EnvDSN = "EACGATE_TEST_PG_DSN"

// cluster is the throwaway server of this test binary (package-level by necessity: it
// outlives the tests and is stopped by Main).
type cluster struct {
	dir      string // temp dir: data/, sockets, log
	bin      string
	asUser   bool // commands run via runuser -u postgres
	adminDSN string
}

var (
	once     sync.Once
	started  *cluster
	admin    string
	setupErr error
)

// binDir finds the PostgreSQL server binaries.
func binDir() (string, error) {
	if d := os.Getenv("EACGATE_PG_BINDIR"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestV := "", -1
	for _, m := range matches {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	if best == "" {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or in PATH")
	}
	return best, nil
}

func (c *cluster) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asUser {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start initialises and starts a cluster.
func start() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, asUser: os.Geteuid() == 0}
	c.dir, err = os.MkdirTemp("", "eacgate-pg-")
	if err != nil {
		return nil, err
	}
	if c.asUser {
		u, err := user.Lookup("postgres")
		if err != nil {
			c.remove()
			return nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			c.remove()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := filepath.Join(c.dir, "data")
	if out, err := c.cmd(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and start
		port, err := freePort()
		if err != nil {
			c.remove()
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, c.dir)
		out, err := c.cmd(ctx, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			c.adminDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			return c, nil
		}
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		lastErr = fmt.Errorf("pg_ctl start: %w: %s %s", err, out, log)
	}
	c.remove()
	return nil, lastErr
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.cmd(ctx, "pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop").Run()
	c.remove()
}

func (c *cluster) remove() { _ = os.RemoveAll(c.dir) }

// server returns the admin DSN, starting the cluster on first use.
func server() (string, error) {
	once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			admin = dsn
			return
		}
		started, setupErr = start()
		if started != nil {
			admin = started.adminDSN
		}
	})
	return admin, setupErr
}

// Main runs the tests and then stops the cluster, if one was started. Use it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if started != nil {
		started.stop()
		started = nil
	}
	return code
}

// AdminDSN returns the DSN of the server's maintenance database, or skips (fails under
// CI=true) when no server can be had.
func AdminDSN(t testing.TB) string {
	t.Helper()
	dsn, err := server()
	if err != nil {
		missing(t, err)
	}
	return dsn
}

func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL required in CI but not available: %v", err)
	}
	t.Skipf("skipping: no PostgreSQL server (set %s or install postgresql; installed by .ci/run): %v", EnvDSN, err)
}

// DSN creates a fresh, empty database and returns its DSN (URL form). The database is
// dropped when the test ends.
func DSN(t testing.TB) string {
	t.Helper()
	adm := AdminDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", adm)
	if err != nil {
		missing(t, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		missing(t, fmt.Errorf("create database: %w", err))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", adm)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(adm, name)
}

// withDatabase replaces the database of a URL or keyword/value DSN.
func withDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	return dsn + " dbname=" + name
}
