package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// PGCluster is a throwaway PostgreSQL cluster of one test, for tests that
// stop and start the server (the shared TEST_DATABASE_URL cluster must
// stay up for the other packages' tests). It is built the way
// internal/withpg builds the suite's cluster: the machine's initdb and
// pg_ctl, run as the postgres OS user when the test runs as root.
type PGCluster struct {
	bin, dir, data string
	Port           int
	asPostgres     bool
}

// StartPGCluster creates and starts a cluster on a free loopback port and
// removes it when t ends. It skips t when TEST_DATABASE_URL is unset (the
// SQLite run) and fails it when the server binaries are missing.
func StartPGCluster(tb testing.TB) *PGCluster {
	tb.Helper()
	t := tb
	if testDatabaseURL() == "" {
		t.Skip("needs PostgreSQL: set TEST_DATABASE_URL (make test runs the Postgres suite)")
	}
	bin, err := pgBin()
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	dir, err := os.MkdirTemp("", "codex32-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &PGCluster{bin: bin, dir: dir, data: filepath.Join(dir, "data"), asPostgres: os.Geteuid() == 0}
	t.Cleanup(func() {
		_, _ = c.pg("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop").CombinedOutput()
		_ = os.RemoveAll(dir)
	})
	if c.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testutil: running as root needs the postgres OS user (initdb refuses root): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.pg("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("testutil: initdb: %v\n%s", err, out)
	}
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.Port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	c.Start(t)
	return c
}

// URL is the cluster's postgres database, as its superuser.
func (c *PGCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
}

// Start starts the (stopped) cluster on its port and waits until it accepts connections.
func (c *PGCluster) Start(tb testing.TB) {
	tb.Helper()
	t := tb
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=100", c.Port, c.dir)
	if out, err := c.pg("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "log"), "-o", opts, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		t.Fatalf("testutil: pg_ctl start: %v\n%s", err, out)
	}
}

// Stop shuts the cluster down the way an operator's restart does (fast:
// sessions are ended, the checkpoint written) and waits until it is down.
func (c *PGCluster) Stop(tb testing.TB) {
	tb.Helper()
	t := tb
	if out, err := c.pg("pg_ctl", "-D", c.data, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		t.Fatalf("testutil: pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *PGCluster) pg(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asPostgres {
		cmd := exec.CommandContext(context.Background(), "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
		cmd.Dir = c.dir
		return cmd
	}
	cmd := exec.CommandContext(context.Background(), path, args...)
	cmd.Dir = c.dir
	return cmd
}

// pgBin finds the directory holding initdb and pg_ctl.
func pgBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found; install the postgresql package")
}
