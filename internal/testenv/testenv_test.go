package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a TB that records a skip instead of stopping the test.
type recorder struct {
	skipped bool
	msg     string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
}

func TestService(t *testing.T) {
	env := map[string]string{RedisURL: "redis://127.0.0.1:6379"}
	getenv := func(k string) string { return env[k] }

	var r recorder
	if got := service(&r, RedisURL, getenv); got != "redis://127.0.0.1:6379" || r.skipped {
		t.Errorf("service(set) = %q, skipped %v", got, r.skipped)
	}
	for _, name := range []string{PostgresURL, WeaviateURL, Chrome} {
		var r recorder
		service(&r, name, getenv)
		if !r.skipped || !strings.Contains(r.msg, SkipMarker) || !strings.Contains(r.msg, name) {
			t.Errorf("service(%s unset): skipped %v, message %q; want a skip naming the marker and the variable", name, r.skipped, r.msg)
		}
	}
}

func TestFindSharedData(t *testing.T) {
	// base/shared/data/scifact beside base/repo (with go.mod), and a
	// package folder inside the repository.
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	pkg := filepath.Join(repo, "rag", "eval")
	data := filepath.Join(base, "shared", "data", "scifact")
	for _, d := range []string{pkg, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := findSharedData(pkg, "scifact")
	if err != nil || got != data {
		t.Errorf("findSharedData = %q, %v; want %q", got, err, data)
	}
	if _, err := findSharedData(pkg, "missing"); err == nil {
		t.Error("findSharedData(missing) succeeded")
	}

	var r recorder
	t.Chdir(pkg)
	if got := SharedData(&r, "scifact"); got != data || r.skipped {
		t.Errorf("SharedData = %q (skipped %v), want %q", got, r.skipped, data)
	}
	r = recorder{}
	SharedData(&r, "missing")
	if !r.skipped || !strings.Contains(r.msg, SkipMarker) || !strings.Contains(r.msg, "missing") {
		t.Errorf("SharedData(missing): skipped %v, message %q", r.skipped, r.msg)
	}
}
