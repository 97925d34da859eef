package main

import (
	"context"
	"errors"
)

// cmdServe is a placeholder until its issue lands.
func cmdServe(ctx context.Context, a *app, args []string) error {
	return errors.New("keel serve: not built yet")
}
