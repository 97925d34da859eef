package main

import (
	"context"
	"errors"
)

// cmdEval is a placeholder until its issue lands.
func cmdEval(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("eval", "SUBCOMMAND", "Not built yet.")
	if _, err := a.parse(f, args); err != nil {
		return err
	}
	return errors.New("keel eval: not built yet")
}
