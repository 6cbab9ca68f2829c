package main

import (
	"os"

	"github.com/codex32/codex32/runner"
)

// runSandbox is the hidden "sandbox" subcommand: a child process of the
// worker's script pool that runs one script at a time, talking JSON over
// stdin and stdout. Its memory limit comes from the environment the pool
// sets (runner.EnvSandboxMemoryLimit). It is not meant to be run by hand.
func runSandbox() int {
	return runner.ServeScripts(os.Stdin, os.Stdout)
}
