package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// API names the batch API a job runs on.
type API string

const (
	APIAnthropic API = "anthropic" // Message Batches
	APIOpenAI    API = "openai"    // the Batch API (JSONL files)
	APILocal     API = "local"     // Keel's local runner
)

// Job is the record of a submitted batch: enough to follow it and fetch its
// results from another process after a restart.
type Job struct {
	// ID is the provider's batch id (msgbatch_…, batch_…) or, for a local
	// job, local_ followed by a hash of its input.
	ID  string `json:"id"`
	API API    `json:"api"`
	// Provider is the provider's name in the model names ("anthropic", or a
	// configured one of the same type).
	Provider string `json:"provider"`
	// Model is the default model's `provider/model` name.
	Model string    `json:"model"`
	Items []JobItem `json:"items"`
	// SubmittedAt is when the batch was accepted.
	SubmittedAt time.Time `json:"submitted_at"`
	// InputHash is the SHA-256 (hex) of what was submitted: the request
	// payload for a provider batch, the input file for a local one.
	InputHash string `json:"input_hash"`
	// InputFileID is the OpenAI file holding the requests.
	InputFileID string `json:"input_file_id,omitempty"`
	// Output is the local runner's results file.
	Output string `json:"output,omitempty"`
}

// JobItem is one request of a job. Model is left out when it is the job's.
type JobItem struct {
	CustomID string `json:"custom_id"`
	Model    string `json:"model,omitempty"`
}

// ModelOf returns the `provider/model` name of item i.
func (j *Job) ModelOf(i int) string {
	if m := j.Items[i].Model; m != "" {
		return m
	}
	return j.Model
}

// ErrNoJob is returned for an id no job record has.
var ErrNoJob = errors.New("no such batch job")

// Store keeps job records as one JSON file per job in a folder
// ($KEEL_DATA/batches), each written whole to a temporary file and renamed
// into place, so a crash never leaves a half-written record. A folder of
// small files rather than a table in keel.db: a job is written once and
// read by id, and the records stay readable with any tool.
type Store struct {
	dir string
}

// NewStore returns the store in dir, created on the first Save.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Dir returns the store's folder.
func (s *Store) Dir() string { return s.dir }

// validID reports whether id can name a file: provider batch ids are
// letters, digits, '_' and '-', and anything else (a path) is refused
// before it reaches the file system.
func validID(id string) bool {
	if id == "" || len(id) > 200 || id[0] == '.' || id[0] == '-' {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

func (s *Store) path(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("batch id %q: want letters, digits, '-' and '_' only", id)
	}
	return filepath.Join(s.dir, id+".json"), nil
}

// Save writes j's record atomically.
func (s *Store) Save(j *Job) error {
	p, err := s.path(j.ID)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, append(b, '\n'))
}

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Load reads the record of job id; ErrNoJob when there is none.
func (s *Store) Load(id string) (*Job, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (records are in %s)", ErrNoJob, id, s.dir)
	}
	if err != nil {
		return nil, err
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if j.ID != id || len(j.Items) == 0 {
		return nil, fmt.Errorf("%s: not a batch job record", p)
	}
	return &j, nil
}

// List returns every job, the most recently submitted first. A record that
// cannot be read is skipped; ok is false in that case, so a caller can say
// so.
func (s *Store) List() (jobs []*Job, ok bool, err error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	ok = true
	for _, e := range entries {
		id, isJSON := strings.CutSuffix(e.Name(), ".json")
		if !isJSON || e.IsDir() || !validID(id) {
			continue
		}
		j, err := s.Load(id)
		if err != nil {
			ok = false
			continue
		}
		jobs = append(jobs, j)
	}
	slices.SortStableFunc(jobs, func(a, b *Job) int { return b.SubmittedAt.Compare(a.SubmittedAt) })
	return jobs, ok, nil
}
