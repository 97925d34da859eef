package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/keelai/keel/provider"
)

func cmdModels(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("models", "[--json]", `
List the model aliases of the configuration file and the providers
configured (from the environment and the file), with each provider's
default model and whether its API key is set. Keys are never shown, only
where they come from. The model marked default is the one used without
--model.`)
	asJSON := f.Bool("json", false, "print one JSON object a line")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("models", "takes no arguments, got %q", pos[0])
	}
	r, err := a.resolver()
	if err != nil {
		return err
	}
	entries := r.Models()
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	if len(entries) == 0 {
		fmt.Fprintln(a.stdout, "No model provider is configured.")
		fmt.Fprintln(a.stdout, strings.ToUpper(provider.SetupHintEnv[:1])+provider.SetupHintEnv[1:]+",")
		fmt.Fprintln(a.stdout, provider.SetupHintFile+".")
		return nil
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMODEL\tKEY\tNOTES")
	for _, e := range entries {
		name, model := e.Name(), e.Provider+"/"+e.Model
		if e.Alias == "" {
			name = e.Provider
			if e.Model == "" {
				model = e.Provider + "/MODEL"
			}
		}
		var notes []string
		if e.Default {
			notes = append(notes, "default")
		}
		if len(e.Fallbacks) > 0 {
			notes = append(notes, "fallbacks: "+strings.Join(e.Fallbacks, ", "))
		}
		if e.Alias == "" && e.Type != e.Provider {
			notes = append(notes, e.Type+" API")
		}
		if e.BaseURL != "" && e.Alias == "" {
			notes = append(notes, e.BaseURL)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, model, keyState(e), strings.Join(notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter pads the last column too; drop the trailing blanks.
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(a.stdout, strings.TrimRight(line, " \n"))
	}
	return nil
}

func keyState(e provider.Entry) string {
	switch {
	case e.HasKey:
		return "yes (" + e.KeySource + ")"
	case e.NeedsKey:
		return "MISSING"
	}
	return "not needed"
}
