// Command keel is Keel's command-line interface: run a prompt, chat with a
// model, list the models configured, and (as they land) ingest documents,
// search and ask them, serve the HTTP API, run evals and batches.
//
//	keel run --model anthropic/claude-sonnet-4-6 "Why is the sky blue?"
//	keel chat
//	keel models
//	keel help
//
// Exit status: 0 on success, 2 for a usage error, 1 for anything else
// (a model, network or I/O error), always reported as one line on standard
// error, with keys redacted.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"

	"golang.org/x/term"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is the whole program, minus the process: tests call it with their
// own streams and environment.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		getenv:    getenv,
		stdinTTY:  isTerminal(stdin),
		stdoutTTY: isTerminal(stdout),
	}
	if f, ok := stdin.(*os.File); ok && f == os.Stdin {
		// Only the real process catches Ctrl-C, and only while a chat
		// answer streams; tests inject their own interrupts.
		a.notify = func(c chan<- os.Signal) { signal.Notify(c, os.Interrupt) }
		a.stopNotify = func(c chan<- os.Signal) { signal.Stop(c) }
	}
	return a.main(ctx, args)
}

// isTerminal reports whether f is a terminal (a file whose descriptor is
// a tty).
func isTerminal(f any) bool {
	fd, ok := f.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(fd.Fd()))
}
