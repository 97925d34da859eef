package main

import (
	"context"
	"errors"
)

// cmdKeys is a placeholder until its issue lands.
func cmdKeys(ctx context.Context, a *app, args []string) error {
	return errors.New("keel keys: not built yet")
}
