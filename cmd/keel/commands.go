package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// commands is the command table, in the order `keel help` lists them.
// Each command lives in a file of its own; add yours here.
func commands() []command {
	return []command{
		{name: "run", summary: "send one prompt to a model and stream the answer", run: cmdRun},
		{name: "chat", summary: "talk with a model interactively", run: cmdChat},
		{name: "models", summary: "list the configured models, aliases and providers", run: cmdModels},
		{name: "ingest", summary: "load files and folders into a collection of the embedded store", run: cmdIngest},
		{name: "search", summary: "search a collection (lexical, vector or hybrid)", run: cmdSearch},
		{name: "ask", summary: "answer a question from documents, with citations (offline without a model)", run: cmdAsk},
		{name: "prompts", summary: "list, show, diff and render versioned prompt files", run: cmdPrompts},
		{name: "serve", summary: "run the gateway and application server (OpenAI and Anthropic APIs, /api, web page)", run: cmdServe},
		{name: "keys", summary: "create, list and revoke the server's API keys", run: cmdKeys},
		{name: "eval", summary: "run evaluation suites, compare runs and gate deploys", run: cmdEval},
		{name: "batch", summary: "submit, follow and collect provider batch jobs at batch prices", run: cmdBatch},
		{name: "mcp", summary: "serve Keel's tools (and search over a collection) as an MCP server on stdio", run: cmdMCP},
		{name: "help", summary: "show help for keel or for a command", run: cmdHelp},
	}
}

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
var version string

func versionString() string {
	v, rev, dirty := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "+dirty"
	}
	if rev != "" {
		return fmt.Sprintf("keel %s (%s, %s)", v, rev, runtime.Version())
	}
	return fmt.Sprintf("keel %s (%s)", v, runtime.Version())
}

func (a *app) printUsage(w io.Writer) {
	fmt.Fprint(w, `Keel builds production LLM applications: models, streaming, tools, retrieval, and a server.

Usage: keel [--config FILE] COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Global flags:
  --config FILE  the configuration file (default: $KEEL_CONFIG, else ./keel.yaml if it exists)
  --version      print the version and exit

Models are named provider/model (anthropic/claude-sonnet-4-6, openai/gpt-4.1-mini,
gemini/gemini-2.5-flash, ollama/llama3.2) or by an alias from the configuration file.
Run 'keel help COMMAND' for a command's flags; the guide is in docs/.
`)
}

func cmdHelp(ctx context.Context, a *app, args []string) error {
	switch len(args) {
	case 0:
		a.printUsage(a.stdout)
		return nil
	case 1:
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			a.printUsage(a.stdout)
			return nil
		}
		c, ok := a.command(args[0])
		if !ok {
			return usagef("help", "unknown command %q", args[0])
		}
		return c.run(ctx, a, []string{"--help"})
	}
	return usagef("help", "want at most one command name")
}

// flags is a command's flag set with its help text. Every command also
// accepts the global --config, so it may come after the command name.
type flags struct {
	*flag.FlagSet
	cmd, synopsis, about string
}

// newFlags starts the flags of `keel cmd`. synopsis follows the command
// name in the usage line; about is the help text's body.
func (a *app) newFlags(cmd, synopsis, about string) *flags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.configPath, "config", a.configPath, "read the configuration from `FILE`")
	return &flags{FlagSet: fs, cmd: cmd, synopsis: synopsis, about: about}
}

// parse parses args, flags and positional arguments in any order (the
// standard flag package stops at the first positional one), until "--".
// On --help it prints the help and returns errHelpShown.
func (a *app) parse(f *flags, args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printHelp(a.stdout)
				return nil, errHelpShown
			}
			return nil, usagef(f.cmd, "%v (see 'keel %s --help')", err, f.cmd)
		}
		rest := f.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (f *flags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: keel %s %s\n\n%s\n", f.cmd, f.synopsis, strings.TrimSpace(f.about))
	fmt.Fprintln(w, "\nFlags:")
	f.VisitAll(func(fl *flag.Flag) {
		arg, usage := flag.UnquoteUsage(fl)
		name := "--" + fl.Name
		if arg != "" {
			name += " " + arg
		}
		def := ""
		if fl.DefValue != "" && fl.DefValue != "false" && fl.Name != "config" {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "  %-16s %s%s\n", name, usage, def)
	})
}
