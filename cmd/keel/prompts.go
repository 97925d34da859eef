package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/prompt"
)

// varFlags collects repeated --var key=value flags.
type varFlags map[string]any

func (v varFlags) String() string { return "" }

func (v varFlags) Set(s string) error {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	v[key] = value
	return nil
}

func cmdPrompts(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("prompts", "list|show|diff|render --dir DIR [NAME[@VERSION]…] [--var key=value]…", `
Work with the *.prompt files of a folder (searched recursively).

  list                   every prompt and version, with its hash, model and description
  show NAME[@VERSION]    a prompt's settings, variables and templates (latest version by default)
  diff NAME[@V1] [NAME@V2]
                         what changed between two versions (by default the latest two)
  render NAME[@VERSION] --var key=value…
                         the system and user text a call would send (--json: the request)`)
	dir := f.String("dir", "", "the folder of prompt files, `DIR` (required)")
	asJSON := f.Bool("json", false, "render: print the request as JSON")
	vars := varFlags{}
	f.Var(vars, "var", "render: a template variable, `key=value` (repeatable)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("prompts", "want a subcommand: list, show, diff or render")
	}
	if *dir == "" {
		return usagef("prompts", "--dir is required")
	}
	sub, pos := pos[0], pos[1:]
	reg, err := prompt.LoadDir(*dir)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		if len(pos) != 0 {
			return usagef("prompts", "list takes no arguments")
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tHASH\tMODEL\tDESCRIPTION")
		for _, p := range reg.All() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Hash, p.Model, oneLine(p.Description))
		}
		return tw.Flush()
	case "show":
		if len(pos) != 1 {
			return usagef("prompts", "show wants one NAME[@VERSION]")
		}
		p, err := reg.Lookup(pos[0])
		if err != nil {
			return err
		}
		w := a.stdout
		fmt.Fprintf(w, "%s (%s)\nfile: %s\n", p.Ref(), p.VersionTag(), p.File)
		if p.Description != "" {
			fmt.Fprintf(w, "description: %s\n", p.Description)
		}
		if p.Model != "" {
			fmt.Fprintf(w, "model: %s\n", p.Model)
		}
		if p.Temperature != nil {
			fmt.Fprintf(w, "temperature: %v\n", *p.Temperature)
		}
		if p.MaxTokens > 0 {
			fmt.Fprintf(w, "max_tokens: %d\n", p.MaxTokens)
		}
		if p.Output != nil {
			fmt.Fprintf(w, "output: %s\n", p.Output.Schema)
		}
		fmt.Fprintf(w, "variables: %s\n", strings.Join(p.Vars(), ", "))
		if p.System != "" {
			fmt.Fprintf(w, "--- system\n%s\n", strings.TrimRight(p.System, "\n"))
		}
		fmt.Fprintf(w, "--- body\n%s\n", strings.TrimRight(p.Body, "\n"))
		return nil
	case "diff":
		var from, to *prompt.Prompt
		switch len(pos) {
		case 1:
			name, _, _ := strings.Cut(pos[0], "@")
			vs := reg.Versions(name)
			if strings.Contains(pos[0], "@") {
				if from, err = reg.Lookup(pos[0]); err != nil {
					return err
				}
				if to, err = reg.Lookup(name); err != nil {
					return err
				}
			} else if len(vs) < 2 {
				if _, err := reg.Lookup(name); err != nil {
					return err
				}
				return usagef("prompts", "%s has one version; name two to compare", name)
			} else {
				from, to = vs[len(vs)-2], vs[len(vs)-1]
			}
		case 2:
			if from, err = reg.Lookup(pos[0]); err != nil {
				return err
			}
			if to, err = reg.Lookup(pos[1]); err != nil {
				return err
			}
		default:
			return usagef("prompts", "diff wants NAME, NAME@VERSION or two of them")
		}
		fmt.Fprintf(a.stdout, "%s -> %s\n", from.Ref(), to.Ref())
		if d := prompt.Diff(from, to); d != "" {
			fmt.Fprint(a.stdout, d)
		} else {
			fmt.Fprintln(a.stdout, "(no difference)")
		}
		return nil
	case "render":
		if len(pos) != 1 {
			return usagef("prompts", "render wants one NAME[@VERSION]")
		}
		p, err := reg.Lookup(pos[0])
		if err != nil {
			return err
		}
		req, err := p.Render(vars)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(req)
		}
		for _, s := range req.System {
			fmt.Fprintf(a.stdout, "--- system\n%s\n", strings.TrimRight(s.Text, "\n"))
		}
		for _, m := range req.Messages {
			fmt.Fprintf(a.stdout, "--- %s\n%s\n", m.Role, strings.TrimRight(m.Text(), "\n"))
		}
		return nil
	}
	return usagef("prompts", "unknown subcommand %q (want list, show, diff or render)", sub)
}

// promptRequest renders the prompt ref from the folder dir with vars, for
// `keel run --prompts DIR --prompt NAME`. A missing variable fails here,
// before any model is contacted.
func promptRequest(dir, ref string, vars map[string]any) (*prompt.Prompt, *llm.Request, error) {
	reg, err := prompt.LoadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	p, err := reg.Lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	req, err := p.Render(vars)
	if err != nil {
		return nil, nil, err
	}
	return p, req, nil
}
