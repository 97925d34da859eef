package server

import (
	"context"
	"path/filepath"

	"github.com/keelai/keel/config"
	"github.com/keelai/keel/store/postgres"
	"github.com/keelai/keel/store/sqlite"
	"github.com/keelai/keel/store/state"
)

// StateFile is the embedded store's file in the data folder: the RAG
// collections and the relational state share it.
const StateFile = "keel.db"

// OpenState opens the relational state the configuration names:
// PostgreSQL when storage.database_url (KEEL_DATABASE_URL) is set, else
// the embedded SQLite store at $KEEL_DATA/keel.db. `keel serve` and
// `keel keys` both use it, so keys created by one are seen by the other.
func OpenState(ctx context.Context, cfg *config.Config) (state.Store, error) {
	// Each branch returns a nil interface on failure, not a nil pointer
	// wrapped in one, so that a caller checking the store sees nil.
	if cfg.Storage.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.Storage.DatabaseURL.Reveal())
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlite.OpenState(ctx, filepath.Join(cfg.Storage.Data, StateFile))
	if err != nil {
		return nil, err
	}
	return st, nil
}
