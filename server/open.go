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
	if cfg.Storage.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.Storage.DatabaseURL.Reveal())
	}
	return sqlite.OpenState(ctx, filepath.Join(cfg.Storage.Data, StateFile))
}
