package main

import (
	"context"
	"errors"
)

// cmdEval is a placeholder until its issue lands.
func cmdEval(ctx context.Context, a *app, args []string) error {
	return errors.New("keel eval: not built yet")
}
