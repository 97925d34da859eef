package eval

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/keelai/keel/cost"
	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/middleware/callinfo"
	"github.com/keelai/keel/prompt"
	"github.com/keelai/keel/rag"
	"github.com/keelai/keel/tool"
)

const defaultK = 10

// Output is what a target produced for one case and repeat, with what it cost.
type Output struct {
	// Input is the rendered user message or query, for judges and reports.
	Input string `json:"input,omitempty"`
	Text  string `json:"text"`
	// Model is the model that answered (after fallbacks); PromptVersion is
	// name@version+hash when a prompt file built the request.
	Model         string `json:"model,omitempty"`
	PromptVersion string `json:"prompt_version,omitempty"`
	// DocIDs are the retrieved documents, best first (RAG targets).
	DocIDs []string `json:"doc_ids,omitempty"`
	// Sources are the retrieved passages shown to the model (faithfulness).
	Sources []prompt.Doc `json:"-"`
	// Cited are the document ids the answer cites; InventedCitations
	// counts citation numbers that match no source.
	Cited             []string `json:"cited,omitempty"`
	InventedCitations int      `json:"invented_citations,omitempty"`
	// ToolCalls names the tools an agent called, in order.
	ToolCalls []string      `json:"tool_calls,omitempty"`
	Usage     llm.Usage     `json:"usage"`
	Cost      cost.USD      `json:"cost"`
	Latency   time.Duration `json:"latency"`
	CacheHit  bool          `json:"cache_hit,omitempty"`
}

// Env is what targets and graders are built from: models, stores and tools
// the caller owns. Models should come wrapped in the reliability stack (with
// a response cache and cost.RunBudgets, so that the run's cost cap holds).
type Env struct {
	// Model opens a model by name; required for model, prompt, agent and
	// judge graders.
	Model func(name string) (llm.Model, error)
	// JudgeModel is the default judge for judge and faithfulness graders.
	JudgeModel string
	// Retriever serves RAG targets.
	Retriever *rag.Retriever
	// Tools is the registry an agent target's tools are taken from.
	Tools *tool.Registry
	// Embedder embeds for the similarity grader.
	Embedder func() (rag.Embedder, error)
}

// runner runs one case and repeat against a target.
type runner interface {
	run(ctx context.Context, c *Case, repeat int) (*Output, error)
}

func parseInput(src string) (*template.Template, error) {
	return template.New("input").Option("missingkey=error").Parse(src)
}

func renderInput(t *template.Template, c *Case) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, c.Vars); err != nil {
		return "", fmt.Errorf("case %s: input: %w", c.ID, err)
	}
	return b.String(), nil
}

// newRunner builds what runs the suite's target.
func newRunner(s *Suite, env Env) (runner, error) {
	t := s.Target
	src := t.Input
	if src == "" {
		src = "{{.input}}"
	}
	input, err := parseInput(src)
	if err != nil {
		return nil, fmt.Errorf("target.input: %w", err)
	}
	var model llm.Model
	var modelName string
	open := func(name string) error {
		if env.Model == nil {
			return errors.New("target: no way to open models")
		}
		m, err := env.Model(name)
		if err != nil {
			return fmt.Errorf("target model %s: %w", name, err)
		}
		model, modelName = m, name
		return nil
	}
	switch {
	case t.Prompt != "":
		reg, err := prompt.LoadDir(s.resolve(t.Prompts))
		if err != nil {
			return nil, fmt.Errorf("target.prompts: %w", err)
		}
		p, err := reg.Lookup(t.Prompt)
		if err != nil {
			return nil, fmt.Errorf("target.prompt: %w", err)
		}
		name := t.Model
		if name == "" {
			name = p.Model
		}
		if name == "" {
			return nil, fmt.Errorf("target: %s names no model; set target.model", p.Ref())
		}
		if err := open(name); err != nil {
			return nil, err
		}
		return &promptTarget{p: p, model: model, name: modelName, t: t}, nil
	case t.RAG != nil:
		if env.Retriever == nil {
			return nil, errors.New("target.rag: no store to retrieve from")
		}
		rt := &ragTarget{r: env.Retriever, spec: *t.RAG, input: input}
		if t.RAG.Answer {
			if err := open(t.Model); err != nil {
				return nil, err
			}
			rt.model = model
		}
		return rt, nil
	case t.Agent != nil:
		if err := open(t.Model); err != nil {
			return nil, err
		}
		reg, err := agentTools(env.Tools, t.Agent.Tools)
		if err != nil {
			return nil, err
		}
		return &agentTarget{agent: &tool.Agent{Model: model, Tools: reg, MaxSteps: t.Agent.MaxSteps}, t: t, input: input}, nil
	default:
		if err := open(t.Model); err != nil {
			return nil, err
		}
		return &modelTarget{model: model, name: modelName, t: t, input: input}, nil
	}
}

func agentTools(all *tool.Registry, names []string) (*tool.Registry, error) {
	if len(names) == 0 {
		return all, nil
	}
	if all == nil {
		return nil, fmt.Errorf("target.agent.tools: no tools are registered (wanted %s)", strings.Join(names, ", "))
	}
	var picked []tool.Tool
	for _, n := range names {
		t, ok := all.Get(n)
		if !ok {
			return nil, fmt.Errorf("target.agent.tools: no tool named %q", n)
		}
		picked = append(picked, t)
	}
	return tool.NewRegistry(picked)
}

type repeatKey struct{}

func withRepeat(ctx context.Context, r int) context.Context {
	return context.WithValue(ctx, repeatKey{}, strconv.Itoa(r))
}

func repeatOf(ctx context.Context) (string, bool) {
	r, ok := ctx.Value(repeatKey{}).(string)
	return r, ok
}

// tag marks a request with the repeat index, which the response cache keys
// on: repeats are real repeats, re-runs of the same repeat are cache hits.
func tag(req *llm.Request, repeat int) {
	if req.Tags == nil {
		req.Tags = map[string]string{}
	}
	req.Tags[callinfo.TagRepeat] = strconv.Itoa(repeat)
}

// generate calls m and fills out from the response.
func generate(ctx context.Context, m llm.Model, req *llm.Request, out *Output) error {
	start := time.Now()
	resp, err := m.Generate(ctx, req)
	out.Latency = time.Since(start)
	if err != nil {
		return err
	}
	out.Text = resp.Text()
	out.Model = resp.Model
	if out.Model == "" {
		out.Model = m.Name()
	}
	out.Usage = resp.Usage
	out.Cost = cost.Dollars(resp.Cost)
	out.CacheHit = resp.CacheHit
	return nil
}

type modelTarget struct {
	model llm.Model
	name  string // as the suite names it, for batch items
	t     Target
	input *template.Template
}

func (m *modelTarget) run(ctx context.Context, c *Case, repeat int) (*Output, error) {
	req, out, err := m.prepare(c, repeat)
	if err != nil {
		return nil, err
	}
	return out, generate(ctx, m.model, req, out)
}

func (m *modelTarget) modelName() string { return m.name }

func (m *modelTarget) prepare(c *Case, repeat int) (*llm.Request, *Output, error) {
	in, err := renderInput(m.input, c)
	if err != nil {
		return nil, nil, err
	}
	req := &llm.Request{Messages: []llm.Message{llm.UserText(in)}, Temperature: m.t.Temperature, MaxTokens: m.t.MaxTokens}
	if m.t.System != "" {
		req.System = []llm.Text{{Text: m.t.System}}
	}
	tag(req, repeat)
	return req, &Output{Input: in, Model: m.model.Name()}, nil
}

type promptTarget struct {
	p     *prompt.Prompt
	model llm.Model
	name  string // as the suite (or the prompt file) names it, for batch items
	t     Target
}

func (pt *promptTarget) run(ctx context.Context, c *Case, repeat int) (*Output, error) {
	req, out, err := pt.prepare(c, repeat)
	if err != nil {
		return nil, err
	}
	return out, generate(ctx, pt.model, req, out)
}

func (pt *promptTarget) modelName() string { return pt.name }

func (pt *promptTarget) prepare(c *Case, repeat int) (*llm.Request, *Output, error) {
	req, err := pt.p.Render(c.Vars)
	if err != nil {
		return nil, nil, fmt.Errorf("case %s: %w", c.ID, err)
	}
	if pt.t.Temperature != nil {
		req.Temperature = pt.t.Temperature
	}
	if pt.t.MaxTokens > 0 {
		req.MaxTokens = pt.t.MaxTokens
	}
	tag(req, repeat)
	out := &Output{Model: pt.model.Name(), PromptVersion: pt.p.Ref() + "+" + pt.p.Hash}
	if len(req.Messages) > 0 {
		out.Input = req.Messages[len(req.Messages)-1].Text()
	}
	return req, out, nil
}

type ragTarget struct {
	r     *rag.Retriever
	spec  RAG
	input *template.Template
	model llm.Model // nil: retrieval only
}

func (rt *ragTarget) run(ctx context.Context, c *Case, repeat int) (*Output, error) {
	q, err := renderInput(rt.input, c)
	if err != nil {
		return nil, err
	}
	k := rt.spec.K
	if k == 0 {
		k = defaultK
	}
	out := &Output{Input: q}
	start := time.Now()
	hits, err := rt.r.Retrieve(ctx, rt.spec.Collection, rag.Query{Text: q, K: k, Mode: rag.Mode(rt.spec.Mode), PerDocument: true})
	out.Latency = time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("retrieve: %w", err)
	}
	for _, h := range hits {
		out.DocIDs = append(out.DocIDs, h.DocID)
		out.Sources = append(out.Sources, prompt.Doc{Source: h.Label(), Text: h.Text})
	}
	if rt.model == nil {
		out.Text = strings.Join(out.DocIDs, " ")
		return out, nil
	}
	req := rag.GroundedRequest(q, hits)
	tag(req, repeat)
	retrieval := out.Latency
	if err := generate(ctx, rt.model, req, out); err != nil {
		return out, err
	}
	out.Latency += retrieval
	cited := rag.Cite(out.Text, hits)
	for _, s := range cited.Sources {
		out.Cited = append(out.Cited, s.Hit.DocID)
	}
	out.InventedCitations = len(cited.Invented)
	return out, nil
}

type agentTarget struct {
	agent *tool.Agent
	t     Target
	input *template.Template
}

func (at *agentTarget) run(ctx context.Context, c *Case, repeat int) (*Output, error) {
	in, err := renderInput(at.input, c)
	if err != nil {
		return nil, err
	}
	req := &llm.Request{Messages: []llm.Message{llm.UserText(in)}, Temperature: at.t.Temperature, MaxTokens: at.t.MaxTokens}
	if at.t.System != "" {
		req.System = []llm.Text{{Text: at.t.System}}
	}
	tag(req, repeat)
	out := &Output{Input: in, Model: at.agent.Model.Name()}
	start := time.Now()
	res, err := at.agent.Run(ctx, req)
	out.Latency = time.Since(start)
	if res != nil {
		out.Text = res.Text()
		out.Usage = res.Usage
		out.Cost = res.Cost
		var stamped cost.USD // what the middleware stack priced, when the agent has no prices
		for _, st := range res.Steps {
			if st.Response != nil {
				stamped += cost.Dollars(st.Response.Cost)
				if st.Response.Model != "" {
					out.Model = st.Response.Model
				}
				for _, call := range st.Response.ToolCalls() {
					out.ToolCalls = append(out.ToolCalls, call.Name)
				}
			}
		}
		if out.Cost == 0 {
			out.Cost = stamped
		}
	}
	return out, err
}
