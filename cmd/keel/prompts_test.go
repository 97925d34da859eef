package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keelai/keel/llm/llmtest"
	"github.com/keelai/keel/llm/llmtest/openaitest"
)

func promptDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"greet.prompt":     "---\nname: greet\nversion: 1.0.0\ndescription: Say hello.\nsystem: You greet people.\n---\nSay hello to {{.who}}.\n",
		"v2/greet.prompt":  "---\nname: greet\nversion: 1.1.0\ndescription: Say hello warmly.\nmodel: openai/gpt-prompted\nsystem: You greet people warmly in {{.lang}}.\nmax_tokens: 50\n---\nSay hello to {{untrusted .who}}.\n",
		"other/bye.prompt": "---\nname: bye\nversion: 0.1.0\n---\nBye.\n",
		"other/notes.md":   "not a prompt",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPromptsList(t *testing.T) {
	dir := promptDir(t)
	r := keel(t, nil, "", "prompts", "list", "--dir", dir)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got [][]string
	for _, l := range lines(r.stdout) {
		f := strings.Fields(l)
		got = append(got, []string{f[0], f[1]})
	}
	want := [][]string{{"NAME", "VERSION"}, {"bye", "0.1.0"}, {"greet", "1.0.0"}, {"greet", "1.1.0"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

func TestPromptsShowDiffRender(t *testing.T) {
	dir := promptDir(t)
	tests := []struct {
		args []string
		want []string // substrings of stdout
	}{
		{[]string{"show", "greet"}, []string{"greet@1.1.0 (1.1.0+", "model: openai/gpt-prompted", "variables: lang, who", "--- body\nSay hello to {{untrusted .who}}."}},
		{[]string{"show", "greet@1.0.0"}, []string{"greet@1.0.0", "variables: who"}},
		{[]string{"diff", "greet"}, []string{"greet@1.0.0 -> greet@1.1.0\n", "version: \"1.0.0\" -> \"1.1.0\"", "- Say hello to {{.who}}.\n+ Say hello to {{untrusted .who}}.\n"}},
		{[]string{"render", "greet", "--var", "who=<Ann>", "--var", "lang=French"}, []string{"--- system\nYou greet people warmly in French.\n--- user\nSay hello to <user_input>\n&lt;Ann&gt;\n</user_input>.\n"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := keel(t, nil, "", append([]string{"prompts", "--dir", dir}, tt.args...)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestPromptsErrors(t *testing.T) {
	dir := promptDir(t)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "x.prompt"), []byte("---\nname: x\nversion: one\n---\nhi\n"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"prompts", "list"}, 2, "--dir is required"},
		{[]string{"prompts", "render", "greet", "--dir", dir, "--var", "who=Ann"}, 1, `missing variable "lang"`},
		{[]string{"prompts", "show", "nope", "--dir", dir}, 1, `prompt not found: "nope"`},
		{[]string{"prompts", "list", "--dir", bad}, 1, "x.prompt:3: version: \"one\" is not a semantic version"},
		{[]string{"prompts", "frob", "--dir", dir}, 2, `unknown subcommand "frob"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			line := oneErrorLine(t, keel(t, nil, "", tt.args...), tt.code)
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q lacks %q", line, tt.want)
			}
		})
	}
}

func TestRunPrompt(t *testing.T) {
	dir := promptDir(t)
	srv := openaitest.NewServer(t)
	srv.Enqueue(llmtest.WireReply{Response: textResponse("Bonjour, Ann.")})
	r := keel(t, openaiEnv(srv), "", "run", "--prompts", dir, "--prompt", "greet", "--var", "who=Ann", "--var", "lang=French")
	if r.code != 0 || r.stdout != "Bonjour, Ann.\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	body := requestBody(t, reqs[0])
	if body["model"] != "gpt-prompted" {
		t.Errorf("model = %v, want the prompt's gpt-prompted", body["model"])
	}
	msgs, _ := body["messages"].([]any)
	var got []string
	for _, m := range msgs {
		m := m.(map[string]any)
		got = append(got, m["role"].(string)+": "+contentText(m["content"]))
	}
	want := []string{"system: You greet people warmly in French.", "user: Say hello to <user_input>\nAnn\n</user_input>."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages sent (-want +got):\n%s", diff)
	}
}

// contentText reads an OpenAI message content: a string or text parts.
func contentText(c any) string {
	switch c := c.(type) {
	case string:
		return c
	case []any:
		var b strings.Builder
		for _, p := range c {
			if p, ok := p.(map[string]any); ok {
				b.WriteString(p["text"].(string))
			}
		}
		return b.String()
	}
	return ""
}

func TestRunPromptMissingVariable(t *testing.T) {
	dir := promptDir(t)
	srv := openaitest.NewServer(t)
	r := keel(t, openaiEnv(srv), "", "run", "--model", "openai/m", "--prompts", dir, "--prompt", "greet@1.1.0", "--var", "who=Ann")
	if line := oneErrorLine(t, r, 1); !strings.Contains(line, `missing variable "lang"`) {
		t.Errorf("error %q does not name the missing variable", line)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
	r = keel(t, openaiEnv(srv), "", "run", "--prompt", "greet", "hello")
	oneErrorLine(t, r, 2)
}
