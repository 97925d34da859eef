// Command linkfloor prints the resident memory of a program that links the
// dependencies DESIGN.md names for Keel (the three providers' official
// SDKs, SQLite, pgx, go-redis, the Weaviate client, the MCP SDK, both JSON
// Schema libraries, Prometheus and OpenTelemetry) and does nothing else
// with them: the floor under keel serve's resident set that comes from
// linking them, before Keel's own code or a single request (see
// BENCHMARKS.md, Gateway). It links what an application calling them links
// (clients constructed, a call made), behind an argument no one passes.
//
//	go run ./bench/linkfloor
//
// Most of it is file pages of the executable that the Go runtime and the
// packages' init functions touch at start-up, so the figure depends on the
// page cache: run it twice and read the second.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

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
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "use" {
		use(context.Background())
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "linkfloor: needs Linux's /proc:", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, field := range []string{"VmHWM:", "RssAnon:", "RssFile:"} {
			if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
				fmt.Printf("%-9s %s\n", field, strings.TrimSpace(rest))
			}
		}
	}
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
