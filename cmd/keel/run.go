package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keelai/keel/llm"
)

// maxStdinPrompt bounds a prompt read from standard input.
const maxStdinPrompt = 32 << 20

func cmdRun(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("run", "[--model M] [--system S] [--json] [--mcp \"CMD ARGS\"]… [--mcp-url URL]… [--max-steps N] PROMPT | --prompts DIR --prompt NAME [--var key=value]…", `
Send PROMPT to a model and print the answer on standard output as it
streams. PROMPT "-" reads the prompt from standard input.

Without --model, keel uses the alias "default" from the configuration
file, else the first provider configured in the environment (see
'keel models').

With --prompt, the request is rendered from the prompt file NAME (or
NAME@VERSION) of the folder --prompts, with its system prompt, settings and
model, and no PROMPT argument; a variable the template needs and no --var
gives is refused before anything is sent.

With --mcp or --mcp-url, the model gets the tools of those MCP servers
and keel runs the agent loop: the answer streams to standard output and
each tool call is one line on standard error. A stdio server inherits only
HOME, PATH, USER, LANG and the like from keel's environment, never the
provider keys.`)
	model := f.String("model", "", "the `MODEL`: provider/model or an alias")
	system := f.String("system", "", "the system prompt, `TEXT`")
	asJSON := f.Bool("json", false, "print the final response as one JSON object instead of streaming text")
	task := f.String("task", "", "the task `LABEL` (classify, summarize, reason, research…): without --model, keel.yaml's routing: picks the model")
	promptDir := f.String("prompts", "", "the folder of prompt files, `DIR`")
	promptRef := f.String("prompt", "", "render the prompt `NAME` (or NAME@VERSION) from --prompts")
	vars := varFlags{}
	f.Var(vars, "var", "a prompt variable, `key=value` (repeatable)")
	agent := addAgentFlags(f)
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if *promptRef != "" || *promptDir != "" || len(vars) > 0 {
		if *promptRef == "" || *promptDir == "" {
			return usagef("run", "--prompts DIR and --prompt NAME go together (and --var needs them)")
		}
		if len(pos) != 0 {
			return usagef("run", "with --prompt, give no PROMPT argument (pass text with --var)")
		}
		p, req, err := promptRequest(*promptDir, *promptRef, vars)
		if err != nil {
			return err
		}
		if *model == "" {
			*model = p.Model
		}
		return a.runRequest(ctx, req, *model, *task, *system, agent, *asJSON)
	}
	if len(pos) != 1 {
		return usagef("run", "want one PROMPT argument (quote it, or - to read standard input), got %d", len(pos))
	}
	prompt := pos[0]
	if prompt == "-" {
		b, err := io.ReadAll(io.LimitReader(a.stdin, maxStdinPrompt+1))
		if err != nil {
			return fmt.Errorf("run: reading the prompt from standard input: %w", err)
		}
		if len(b) > maxStdinPrompt {
			return fmt.Errorf("run: the prompt on standard input is larger than %d bytes", maxStdinPrompt)
		}
		prompt = string(b)
	}
	if strings.TrimSpace(prompt) == "" {
		return usagef("run", "the prompt is empty")
	}
	req := &llm.Request{Messages: []llm.Message{llm.UserText(prompt)}}
	return a.runRequest(ctx, req, *model, *task, *system, agent, *asJSON)
}

// runRequest sends req, with --system in place of its system prompt when
// given, to the model --model or --task routes to: through the agent loop
// when tools are on, else printing the answer as it streams or as one JSON
// object.
func (a *app) runRequest(ctx context.Context, req *llm.Request, model, task, system string, agent *agentFlags, asJSON bool) error {
	if system != "" {
		req.System = []llm.Text{{Text: system}}
	}
	m, err := a.routedModel(model, task, req)
	if err != nil {
		return err
	}
	if agent.enabled() {
		return a.runAgent(ctx, m, req, agent, asJSON)
	}
	if asJSON {
		return a.runJSON(ctx, m, req)
	}
	resp, err := a.stream(ctx, m, req)
	if err != nil {
		return err
	}
	a.stopNote(resp)
	return nil
}

// stream sends req and copies the answer's text to stdout as it arrives,
// ending it with a newline. It returns the accumulated response.
func (a *app) stream(ctx context.Context, m llm.Model, req *llm.Request) (*llm.Response, error) {
	var last byte = '\n'
	finish := func() {
		if last != '\n' {
			fmt.Fprintln(a.stdout)
			last = '\n'
		}
	}
	defer finish()
	for ev, err := range m.Stream(ctx, req) {
		if err != nil {
			return nil, err
		}
		switch ev.Kind {
		case llm.EventText:
			if ev.Text == "" {
				continue
			}
			if _, err := io.WriteString(a.stdout, ev.Text); err != nil {
				return nil, fmt.Errorf("writing the answer: %w", err)
			}
			last = ev.Text[len(ev.Text)-1]
		case llm.EventDone:
			return ev.Response, nil
		}
	}
	// The model's stream ended without its final event: report it as
	// llm.Collect does, never as a short answer.
	return nil, &llm.Error{Kind: llm.KindNetwork, Provider: providerOf(m), Message: llm.ErrIncomplete.Error(), Err: llm.ErrIncomplete}
}

// stopNote tells the person when an answer stopped for a reason other
// than its natural end.
func (a *app) stopNote(resp *llm.Response) {
	switch resp.StopReason {
	case llm.StopMaxTokens:
		a.notef("keel: note: the answer stopped at the output token limit")
	case llm.StopRefusal:
		a.notef("keel: note: the model refused to answer")
	}
}

func providerOf(m llm.Model) string {
	p, _, _ := strings.Cut(m.Name(), "/")
	return p
}

// jsonResponse is `keel run --json`'s output.
type jsonResponse struct {
	ID         string          `json:"id"`
	Model      string          `json:"model"`
	Text       string          `json:"text"`
	Content    json.RawMessage `json:"content"`
	StopReason llm.StopReason  `json:"stop_reason"`
	Usage      llm.Usage       `json:"usage"`
	LatencyMS  int64           `json:"latency_ms"`
	// Attempts, CostUSD and CacheHit come from the middleware stack.
	Attempts int     `json:"attempts"`
	CostUSD  float64 `json:"cost_usd"`
	CacheHit bool    `json:"cache_hit,omitempty"`
}

func (a *app) runJSON(ctx context.Context, m llm.Model, req *llm.Request) error {
	start := time.Now()
	resp, err := m.Generate(ctx, req)
	if err != nil {
		return err
	}
	latency := resp.Latency
	if latency == 0 {
		latency = time.Since(start)
	}
	content, err := llm.MarshalParts(resp.Content)
	if err != nil {
		return fmt.Errorf("run: encoding the response: %w", err)
	}
	out := jsonResponse{
		ID: resp.ID, Model: resp.Model, Text: resp.Text(), Content: content,
		StopReason: resp.StopReason, Usage: resp.Usage, LatencyMS: latency.Milliseconds(),
		Attempts: resp.Attempts, CostUSD: resp.Cost, CacheHit: resp.CacheHit,
	}
	if out.Model == "" {
		out.Model = m.Name()
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
