// Package testenv finds what some of Keel's tests need beyond Go: running
// services (PostgreSQL, Redis, Weaviate, a Chromium binary) and shared
// data sets. When one is missing, the test is skipped with a message that
// contains SkipMarker and names what to set, so that `go test ./...` passes
// on a machine with only Go, while .ci/run, which provides everything,
// fails if any test skipped that way.
package testenv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// SkipMarker starts the message of every skip for a missing service or
// data set. .ci/run searches the test output for it.
const SkipMarker = "KEEL-SKIP-SERVICE"

// The variables .ci/run sets once it has started each service.
const (
	// PostgresURL holds a postgres:// URL of a database tests may use.
	PostgresURL = "KEEL_TEST_POSTGRES_URL"
	// RedisURL holds a redis:// URL.
	RedisURL = "KEEL_TEST_REDIS_URL"
	// WeaviateURL holds the http:// URL of a Weaviate server.
	WeaviateURL = "KEEL_TEST_WEAVIATE_URL"
	// Chrome holds the path of a Chromium (or Chrome) binary.
	Chrome = "KEEL_TEST_CHROME"
)

// TB is the part of testing.TB these helpers use; *testing.T, *testing.B
// and *testing.F satisfy it.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
}

var _ TB = testing.TB(nil)

// Service returns the value of the environment variable name (one of the
// constants above), or skips the test with a message naming it.
func Service(t TB, name string) string {
	t.Helper()
	return service(t, name, os.Getenv)
}

func service(t TB, name string, getenv func(string) string) string {
	t.Helper()
	v := getenv(name)
	if v == "" {
		t.Skipf("%s: %s is not set; this test needs that service (.ci/run starts it and sets the variable)", SkipMarker, name)
	}
	return v
}

// SharedData returns the path of the data set name in the shared data
// folder (../shared/data/<name> beside the repository), or skips the test
// with a message naming it. The folder is searched for from the module
// root upwards, so that the test finds it from any package.
func SharedData(t TB, name string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Skipf("%s: shared data %q: %v", SkipMarker, name, err)
		return ""
	}
	p, err := findSharedData(wd, name)
	if err != nil {
		t.Skipf("%s: shared data %q not found: %v (it lives in ../shared/data/%s beside the repository)", SkipMarker, name, err, name)
		return ""
	}
	return p
}

// findSharedData looks for shared/data/<name> in each folder from the
// parent of the module root (found from dir) up to the file system root.
func findSharedData(dir, name string) (string, error) {
	root, err := moduleRoot(dir)
	if err != nil {
		return "", err
	}
	for d := filepath.Dir(root); ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "data", name)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		if d == filepath.Dir(d) {
			return "", errors.New("no shared/data/" + name + " above " + root)
		}
	}
}

// moduleRoot returns the closest folder from dir upwards that holds go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if d == filepath.Dir(d) {
			return "", errors.New("no go.mod above " + dir)
		}
	}
}
