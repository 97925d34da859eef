package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/server/api"
	"github.com/keelai/keel/server/backend"
	"github.com/keelai/keel/store/sqlite"
)

// oneModel serves a single model under its own name.
type oneModel struct{ m llm.Model }

func (o oneModel) Open(_ context.Context, name string) (llm.Model, error) {
	if name != o.m.Name() {
		return nil, fmt.Errorf("%w: %q", backend.ErrUnknownModel, name)
	}
	return o.m, nil
}

func (o oneModel) List(context.Context) []backend.ModelInfo {
	return []backend.ModelInfo{{ID: o.m.Name(), Target: o.m.Name(), Default: true}}
}

// A chat turn over HTTP, with the scripted fake model: the events arrive
// in the contract's order, and the turn is stored when it is done.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "keel-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.OpenState(context.Background(), filepath.Join(dir, "keel.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()

	model := llmtest.NewModel("fake/model", llmtest.Text("Hello there."))
	srv := httptest.NewServer(api.New(api.Deps{Models: oneModel{model}, State: st, DefaultModel: "fake/model"}))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/api/chat", "application/json", strings.NewReader(`{"message":"Hi"}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var event string
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			event = name
			continue
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			switch event {
			case "delta", "done":
				fmt.Println(event, data)
			default: // ids, times and latencies differ from run to run
				fmt.Println(event)
			}
		}
	}
	// Output:
	// conversation
	// delta {"text":"Hello "}
	// delta {"text":"there."}
	// usage
	// done {"message_seq":2}
}
