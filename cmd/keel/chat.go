package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/keelai/keel/llm"
	"github.com/keelai/keel/window"
)

const chatHelp = `Commands:
  /model [NAME]   show the model, or switch to NAME (the conversation is kept)
  /system [TEXT]  set the system prompt, or clear it when TEXT is empty
  /reset          start the conversation again (the system prompt is kept)
  /help           show this help
  /exit           leave (Ctrl-D too)
Ctrl-C stops the answer being written, not the session.`

func cmdChat(ctx context.Context, a *app, args []string) error {
	f := a.newFlags("chat", "[--model M] [--system S]", `
Talk with a model: each line you type is sent with the conversation so
far, and the answer streams back. Lines starting with / are commands:

`+chatHelp+`

Standard input need not be a terminal: keel chat < script.txt runs a
scripted conversation.`)
	model := f.String("model", "", "the `MODEL`: provider/model or an alias")
	system := f.String("system", "", "the system prompt, `TEXT`")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("chat", "takes no arguments, got %q", pos[0])
	}
	s := &chat{a: a, modelName: *model, system: *system}
	if s.model, err = a.chatModel(*model); err != nil {
		return err
	}
	s.modelName = s.model.Name()
	return s.loop(ctx)
}

// chat is one interactive session.
type chat struct {
	a         *app
	model     llm.Model
	modelName string
	system    string
	// history holds completed turns only: a failed or stopped turn
	// leaves it as it was.
	history []llm.Message
	failed  int
}

func (s *chat) loop(ctx context.Context) error {
	a := s.a
	if a.stdinTTY {
		a.notef("Chatting with %s. /help lists the commands; Ctrl-D leaves.", s.modelName)
	}
	in := bufio.NewScanner(a.stdin)
	in.Buffer(make([]byte, 0, 64<<10), maxStdinPrompt)
	for {
		if a.stdinTTY {
			fmt.Fprint(a.stderr, "> ")
		}
		if !in.Scan() {
			break
		}
		line := strings.TrimSpace(in.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "/"):
			if done := s.command(line); done {
				return s.result()
			}
		default:
			s.turn(ctx, line)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("chat: reading standard input: %w", err)
	}
	if a.stdinTTY {
		fmt.Fprintln(a.stderr)
	}
	return s.result()
}

// result is the session's outcome: a scripted session (not at a terminal)
// in which some turn failed ends with an error, so scripts notice.
func (s *chat) result() error {
	if s.failed > 0 && !s.a.stdinTTY {
		return fmt.Errorf("chat: %d of the answers failed", s.failed)
	}
	return nil
}

// command runs a /command and reports whether the session is over.
func (s *chat) command(line string) (done bool) {
	a := s.a
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/exit", "/quit":
		return true
	case "/help":
		a.notef("%s", chatHelp)
	case "/reset":
		s.history = nil
		a.notef("(conversation cleared)")
	case "/system":
		s.system = arg
		if arg == "" {
			a.notef("(system prompt cleared)")
		} else {
			a.notef("(system prompt set)")
		}
	case "/model":
		if arg == "" {
			a.notef("(model: %s)", s.modelName)
			break
		}
		m, err := a.chatModel(arg)
		if err != nil {
			a.errorLine(err.Error())
			break
		}
		s.model, s.modelName = m, m.Name()
		a.notef("(model: %s)", s.modelName)
	default:
		a.notef("unknown command %s; /help lists them", name)
	}
	return false
}

// turn sends one user line with the conversation and streams the answer.
// Ctrl-C cancels this turn's context only.
func (s *chat) turn(ctx context.Context, text string) {
	a := s.a
	msgs := append(slices.Clip(s.history), llm.UserText(text))
	req := &llm.Request{Messages: msgs}
	if s.system != "" {
		req.System = []llm.Text{{Text: s.system}}
	}
	turnCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := a.onInterrupt(cancel)
	resp, err := a.stream(turnCtx, s.model, req)
	stop()
	switch {
	case err != nil && turnCtx.Err() != nil && ctx.Err() == nil:
		a.notef("(answer stopped)")
	case err != nil:
		s.failed++
		a.errorLine(err.Error())
	default:
		s.history = append(msgs, resp.Message())
		a.stopNote(resp)
	}
}

// chatModel opens a model for a conversation: the reliable model behind a
// window that fits the history into its context, summarising the turns it
// drops with the same model, so that a long chat never meets a
// context_length error. The window sits outside the retries, so a retried
// call resends the same fitted request.
func (a *app) chatModel(name string) (llm.Model, error) {
	m, err := a.model(name)
	if err != nil {
		return nil, err
	}
	return window.Middleware(window.Options{Compactor: window.NewCompactor(m, 0)})(m), nil
}

// onInterrupt calls cancel on Ctrl-C until the returned stop is called.
// stop waits for the watching goroutine to end.
func (a *app) onInterrupt(cancel context.CancelFunc) (stop func()) {
	if a.notify == nil {
		return func() {}
	}
	sig := make(chan os.Signal, 1)
	a.notify(sig)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-sig:
			cancel()
		case <-done:
		}
	}()
	return func() {
		a.stopNotify(sig)
		close(done)
		<-exited
	}
}
