// Command codex32 is the whole product: the web dashboard, its migrations
// workers, its migrations and the admin commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/codex32/codex32/internal/config"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2 // bad configuration or usage
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run dispatches a subcommand and turns its error into one line and an exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr)
	case "worker":
		err = cmdWorker(ctx, rest, stdout, stderr)
	case "sandbox":
		// Internal: the script sandbox process the workers start.
		return runSandbox()
	case "migrate":
		err = cmdMigrate(ctx, rest, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, rest, stdout, stderr)
	case "db":
		err = cmdDB(ctx, rest, stdout, stderr)
	case "import":
		err = cmdImport(ctx, rest, stdout, stderr)
	case "user":
		err = cmdUser(ctx, rest, stdin, stdout, stderr)
	case "seed":
		err = cmdSeed(ctx, rest, stdout, stderr)
	case "version":
		_, _ = fmt.Fprintf(stdout, "codex32 %s\n", version())
	case "help":
		writeHelp(stdout)
	default:
		err = &usageError{msg: fmt.Sprintf("unknown command %q (run codex32 help)", cmd)}
	}
	return report(err, stderr)
}

func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	var ce *config.Error
	var ue *usageError
	switch {
	case errors.As(err, &ce):
		_, _ = fmt.Fprintf(stderr, "codex32: %s\n", ce)
		return exitConfig
	case errors.As(err, &ue):
		_, _ = fmt.Fprintf(stderr, "codex32: %s\n", ue)
		return exitConfig
	default:
		_, _ = fmt.Fprintf(stderr, "codex32: %v\n", err)
		return exitFail
	}
}

var errHelpShown = errors.New("help shown")
