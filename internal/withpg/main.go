// Command withpg runs a command with TEST_DATABASE_URL pointing at a
// throwaway PostgreSQL cluster that it creates in a temporary directory,
// starts on a free loopback port, and removes afterwards.
//
//	go run ./internal/withpg -- go test ./...
//
// It uses the machine's initdb and pg_ctl (found on PATH or in
// /usr/lib/postgresql/*/bin), as the postgres OS user when run as root,
// because initdb refuses to run as root. It exits 3 when no PostgreSQL
// server binaries exist, so callers can say so loudly.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

const exitNoPostgres = 3

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withpg -- command [args...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	bin, err := findPGBin()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return exitNoPostgres
	}
	// Nothing cancels the run: Ctrl-C is passed on to the child, which ends it.
	ctx := context.Background()
	c, err := startCluster(ctx, bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	defer c.stop()

	// Stop the cluster on Ctrl-C too; the child gets the signal itself.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	fmt.Fprintf(os.Stderr, "withpg: PostgreSQL (%s) running on 127.0.0.1:%d for this run\n", c.version, c.port)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...) //nolint:gosec // G204: running the command given on our own command line is what withpg is for
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "TEST_DATABASE_URL="+c.url())
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case s := <-sigs:
		_ = cmd.Process.Signal(s)
		err = <-done
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		return 1
	}
	return 0
}

// findPGBin returns the directory holding initdb and pg_ctl.
func findPGBin() (string, error) {
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

type cluster struct {
	bin, dir, version string
	port              int
	asPostgres        bool
}

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func startCluster(ctx context.Context, bin string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "codex32-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir, asPostgres: os.Geteuid() == 0}
	if c.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres OS user (initdb refuses root): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.pg(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb failed: %w\n%s", err, out)
	}
	if out, err := c.pg(ctx, "initdb", "--version").Output(); err == nil {
		c.version = string(out[:len(out)-1])
	}
	for attempt := 0; attempt < 5; attempt++ {
		c.port, err = freePort(ctx)
		if err != nil {
			break
		}
		// Tests need no durability; benchmarks set WITHPG_DURABLE=1 to
		// measure with Postgres's real commit path (fsync on).
		durability := "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		if os.Getenv("WITHPG_DURABLE") == "1" {
			durability = ""
		}
		// WITHPG_OPTIONS adds server settings, e.g. "-c shared_buffers=1GB".
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 %s -c max_connections=200 %s", c.port, dir, durability, os.Getenv("WITHPG_OPTIONS"))
		var out []byte
		out, err = c.pg(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "30", "start").CombinedOutput()
		if err == nil {
			return c, nil
		}
		err = fmt.Errorf("pg_ctl start failed: %w\n%s", err, out)
	}
	_ = os.RemoveAll(dir)
	return nil, err
}

func (c *cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.pg(ctx, "pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	if out, err := cmd.CombinedOutput(); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "withpg: pg_ctl stop: %v\n%s", err, out)
	}
	_ = os.RemoveAll(c.dir)
}

// pg builds a command for a PostgreSQL binary, as the postgres user when
// root; it is killed if ctx ends first.
func (c *cluster) pg(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asPostgres {
		cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...) //nolint:gosec // G204: a PostgreSQL binary from findPGBin with arguments built here
		cmd.Dir = c.dir
		return cmd
	}
	cmd := exec.CommandContext(ctx, path, args...) //nolint:gosec // G204: a PostgreSQL binary from findPGBin with arguments built here
	cmd.Dir = c.dir
	return cmd
}

func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
