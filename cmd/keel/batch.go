package main

import (
	"context"
	"errors"
)

// cmdBatch is a placeholder until its issue lands.
func cmdBatch(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("batch", "SUBCOMMAND", "Not built yet.")
	if _, err := a.parse(f, args); err != nil {
		return err
	}
	return errors.New("keel batch: not built yet")
}
