package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/provider"
)

// app is what every command gets: the process's streams and environment,
// the global flags, and the configuration and resolver, loaded on first
// use so that commands that need neither (help) never fail on a bad file.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stdinTTY and stdoutTTY say whether the streams are terminals:
	// prompts and decorations appear only for a person.
	stdinTTY, stdoutTTY bool

	// configPath is --config.
	configPath string

	// notify and stopNotify subscribe c to Ctrl-C (signal.Notify and
	// signal.Stop in the real process); nil means interrupts are not
	// caught.
	notify, stopNotify func(c chan<- os.Signal)
	// openModel, when set, replaces the resolver (tests plug fakes in).
	openModel func(name string) (llm.Model, error)

	cfg *config.Config
	res *provider.Resolver
	// runBudget is keel.yaml's limits.run_budget_usd for this command,
	// shared by every model it opens.
	runBudget *cost.Budget
	// files are the log and capture files the command appends to.
	files map[string]*os.File
}

// command is one `keel COMMAND`. To add one, write its function in a file
// of its own and add a line to commands.
type command struct {
	name string
	// summary is one line for `keel help`.
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct {
	cmd string // "" for the global command line
	msg string
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.msg
	}
	return e.cmd + ": " + e.msg
}

// usagef returns a usageError for cmd.
func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// errHelpShown means a command printed its help on request: exit 0.
var errHelpShown = errors.New("help shown")

// config loads the configuration once.
func (a *app) config() (*config.Config, error) {
	if a.cfg == nil {
		cfg, err := config.Load(a.configPath, a.getenv)
		if err != nil {
			return nil, err
		}
		a.cfg = cfg
	}
	return a.cfg, nil
}

// resolver builds the model resolver once.
func (a *app) resolver() (*provider.Resolver, error) {
	if a.res == nil {
		cfg, err := a.config()
		if err != nil {
			return nil, err
		}
		a.res = provider.NewResolver(cfg, a.getenv)
	}
	return a.res, nil
}

// model opens the model called name, or the default model when name is "".
func (a *app) model(name string) (llm.Model, error) {
	if a.openModel != nil {
		return a.openModel(name)
	}
	r, err := a.resolver()
	if err != nil {
		return nil, err
	}
	if name == "" {
		if name, err = r.Default(); err != nil {
			return nil, err
		}
	}
	return a.reliable(r, name)
}

// main runs the command line and returns the exit status.
func (a *app) main(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("keel", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.configPath, "config", "", "")
	showVersion := fs.Bool("version", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printUsage(a.stdout)
			return 0
		}
		return a.fail(&usageError{msg: err.Error() + " (see 'keel help')"})
	}
	if *showVersion {
		fmt.Fprintln(a.stdout, versionString())
		return 0
	}
	args = fs.Args()
	if len(args) == 0 {
		a.printUsage(a.stderr)
		return 2
	}
	cmd, ok := a.command(args[0])
	if !ok {
		return a.fail(&usageError{msg: fmt.Sprintf("unknown command %q (see 'keel help')", args[0])})
	}
	err := cmd.run(ctx, a, args[1:])
	if cerr := a.closeFiles(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the log files: %w", cerr)
	}
	return a.fail(err)
}

func (a *app) command(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// fail reports err, if any, and returns the exit status.
func (a *app) fail(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		a.errorLine(err.Error())
		return 2
	case errors.Is(err, provider.ErrNoProvider):
		// The one error a newcomer is sure to meet gets two lines: what
		// to set, and the alternative.
		a.errorLine(provider.ErrNoProvider.Error() + ": " + provider.SetupHintEnv)
		a.errorLine(provider.SetupHintFile)
		return 1
	}
	a.errorLine(err.Error())
	return 1
}

// errorLine prints "keel: msg" as one line, with secrets redacted.
func (a *app) errorLine(msg string) {
	fmt.Fprintln(a.stderr, "keel: "+oneLine(a.redact(msg)))
}

// notef prints a notice for the person at the terminal (on stderr, so
// that stdout holds only answers).
func (a *app) notef(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

// oneLine folds a multi-line message (an upstream error body) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// redact removes every secret Keel knows of from s: provider keys (from
// the environment and the config file), storage URLs, and anything shaped
// like a key.
func (a *app) redact(s string) string {
	if a.res != nil {
		s = a.res.Redact(s)
	}
	secrets := []string{
		a.getenv(config.EnvAnthropicKey), a.getenv(config.EnvOpenAIKey), a.getenv(config.EnvGeminiKey),
		a.getenv(config.EnvDatabaseURL), a.getenv(config.EnvRedisURL),
	}
	if a.cfg != nil {
		for _, p := range a.cfg.Providers {
			secrets = append(secrets, p.APIKey.Reveal())
			if p.APIKeyEnv != "" {
				secrets = append(secrets, a.getenv(p.APIKeyEnv))
			}
		}
		secrets = append(secrets, a.cfg.Storage.DatabaseURL.Reveal(), a.cfg.Storage.RedisURL.Reveal())
	}
	for _, v := range secrets {
		// Short values are placeholders ("none", "test"), not secrets;
		// replacing them would garble ordinary words.
		if v = strings.TrimSpace(v); len(v) >= 8 {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return llm.Redact(s)
}
