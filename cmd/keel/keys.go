package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/server"
	"github.com/keelai/keel/store/state"
)

const keysSynopsis = "create --name NAME [--rpm N] [--budget USD] | list [--json] | revoke ID|NAME"

func cmdKeys(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("keys", "want a subcommand: %s", keysSynopsis)
	}
	switch args[0] {
	case "create":
		return a.keysCreate(ctx, args[1:])
	case "list":
		return a.keysList(ctx, args[1:])
	case "revoke":
		return a.keysRevoke(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		f := a.keysFlags("")
		f.printHelp(a.stdout)
		return errHelpShown
	}
	return usagef("keys", "unknown subcommand %q; want create, list or revoke", args[0])
}

func (a *app) keysFlags(sub string) *flags {
	name := "keys"
	if sub != "" {
		name += " " + sub
	}
	return a.newFlags(name, keysSynopsis, `
Manage the API keys of `+"`keel serve`"+`. Keys are stored as hashes in the
server's state (the embedded store in $KEEL_DATA, or PostgreSQL when
KEEL_DATABASE_URL is set): a key is shown once, when created, and cannot be
recovered. Clients send it as "Authorization: Bearer KEY" or "x-api-key: KEY".

  create  makes a key; its secret is printed alone on the last line.
          --rpm limits its requests per minute, --budget its spending per
          day (UTC) in US dollars.
  list    shows every key, revoked ones included (--json: one object per line).
  revoke  revokes a key by id or name; the servers refuse it within seconds.`)
}

func (a *app) stateStore(ctx context.Context) (state.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	return server.OpenState(ctx, cfg)
}

func (a *app) keysCreate(ctx context.Context, args []string) error {
	f := a.keysFlags("create")
	name := f.String("name", "", "the key's `name` (unique; shown in logs)")
	rpm := f.Int("rpm", 0, "limit the key to `N` requests per minute (0: no limit)")
	budget := f.Float64("budget", 0, "limit the key's spending per day to `USD` (0: no limit)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("keys create", "unexpected argument %q (the name goes in --name)", pos[0])
	case strings.TrimSpace(*name) == "":
		return usagef("keys create", "--name is required")
	case strings.ContainsFunc(*name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return usagef("keys create", "--name must not contain control characters")
	case *rpm < 0:
		return usagef("keys create", "--rpm must be 0 or more")
	case *budget < 0 || *budget != *budget:
		return usagef("keys create", "--budget must be 0 or more US dollars")
	}
	st, err := a.stateStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, k := state.GenerateKey()
	k.Name, k.RPM, k.Budget = strings.TrimSpace(*name), *rpm, cost.Dollars(*budget)
	if err := st.CreateKey(ctx, k); err != nil {
		if errors.Is(err, state.ErrConflict) {
			return fmt.Errorf("a key named %q already exists", k.Name)
		}
		return err
	}
	a.notef("Created key %s (%s). Store it now: it is shown only once.", k.Name, k.ID)
	fmt.Fprintln(a.stdout, secret)
	return nil
}

func (a *app) keysList(ctx context.Context, args []string) error {
	f := a.keysFlags("list")
	asJSON := f.Bool("json", false, "print one JSON object per key per line")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("keys list", "unexpected argument %q", pos[0])
	}
	st, err := a.stateStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, k := range keys {
			if err := enc.Encode(keyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, RPM: k.RPM, BudgetUSD: k.Budget.Float(),
				CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(keys) == 0 {
		a.notef("No keys. Create one with: keel keys create --name NAME")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tRPM\tBUDGET/DAY\tCREATED\tREVOKED")
	for _, k := range keys {
		rpm, budget, revoked := "-", "-", "-"
		if k.RPM > 0 {
			rpm = fmt.Sprint(k.RPM)
		}
		if k.Budget > 0 {
			budget = k.Budget.String()
		}
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, rpm, budget, k.CreatedAt.UTC().Format(time.DateTime), revoked)
	}
	return tw.Flush()
}

func (a *app) keysRevoke(ctx context.Context, args []string) error {
	f := a.keysFlags("revoke")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
		return usagef("keys revoke", "want one key id or name")
	}
	st, err := a.stateStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RevokeKey(ctx, pos[0]); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return fmt.Errorf("no key with id or name %q", pos[0])
		}
		return err
	}
	a.notef("Revoked %s.", pos[0])
	return nil
}

// keyJSON is a key as `keel keys list --json` prints it: the budget in
// dollars, not in the store's nano-dollars.
type keyJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"`
	RPM       int        `json:"rpm"`
	BudgetUSD float64    `json:"budget_usd"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}
