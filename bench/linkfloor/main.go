// Command linkfloor prints the resident memory of a program that links the
// dependencies DESIGN.md names for Keel (the three providers' official
// SDKs, SQLite, pgx, go-redis, the Weaviate client, the MCP SDK, both JSON
// Schema libraries, Prometheus and OpenTelemetry) and does nothing else
// with them: the floor under keel serve's resident set that comes from
// linking them, before Keel's own code or a single request (see
// BENCHMARKS.md, Gateway). It links what an application calling them links
// (clients constructed, a call made), behind an argument no one passes.
//
//	go build -o /tmp/linkfloor ./bench/linkfloor && /tmp/linkfloor
//
// Most of it is file pages of the executable that the Go runtime and the
// packages' init functions touch at start-up, and how many of them the
// kernel maps depends on how the file sits in the page cache: a binary
// fresh from go build reads higher than a cp of it. Compare it with a keel
// binary that got there the same way.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	santhosh "github.com/santhosh-tekuri/jsonschema/v6"
	weaviate "github.com/weaviate/weaviate-go-client/v5/weaviate"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/genai"
	_ "modernc.org/sqlite"

	"github.com/keelai/keel/bench/internal/procmem"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "use" {
		use(context.Background())
	}
	m, err := procmem.Of(os.Getpid())
	if err != nil {
		fmt.Fprintln(os.Stderr, "linkfloor: needs Linux's /proc:", err)
		os.Exit(1)
	}
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("peak resident %.1f MB: %.1f MB anonymous, %.1f MB file pages\n", mb(m.Peak), mb(m.Anon), mb(m.File))
}

// use calls each dependency the way an application does, so that the
// linker keeps what such an application has; main never runs it.
func use(ctx context.Context) {
	oc := openai.NewClient()
	oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{})
	oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{}).Next()
	oc.Embeddings.New(ctx, openai.EmbeddingNewParams{})
	ac := anthropic.NewClient()
	ac.Messages.New(ctx, anthropic.MessageNewParams{})
	ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{}).Next()
	if gc, err := genai.NewClient(ctx, &genai.ClientConfig{}); err == nil {
		gc.Models.GenerateContent(ctx, "", nil, nil)
		for range gc.Models.GenerateContentStream(ctx, "", nil, nil) {
		}
	}
	if db, err := sql.Open("sqlite", ""); err == nil {
		db.ExecContext(ctx, "")
	}
	if pool, err := pgxpool.New(ctx, ""); err == nil {
		pool.Exec(ctx, "")
	}
	redis.NewClient(&redis.Options{}).Eval(ctx, "", nil)
	if wc, err := weaviate.NewClient(weaviate.Config{}); err == nil {
		wc.GraphQL().Get().Do(ctx)
		wc.Batch().ObjectsBatcher().Do(ctx)
	}
	mcp.NewClient(&mcp.Implementation{}, nil).Connect(ctx, &mcp.CommandTransport{}, nil)
	jsonschema.For[struct{ A string }](nil)
	santhosh.NewCompiler().Compile("")
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "x"}, nil))
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if exp, err := otlptracehttp.New(ctx); err == nil {
		sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	}
}
