package main

import (
	"context"
	"errors"
)

// cmdBatch is a placeholder until its issue lands.
func cmdBatch(ctx context.Context, a *app, args []string) error {
	return errors.New("keel batch: not built yet")
}
