// Package prompt loads versioned prompt templates from `*.prompt` files and
// renders them into requests, and renders untrusted text (retrieved
// documents, user input, tool output) inside delimiters it cannot close.
//
// A prompt file is YAML front matter followed by a Go text/template body:
//
//	---
//	name: summarise
//	version: 1.2.0
//	description: Summarise a document for a busy reader.
//	model: anthropic/claude-haiku-4-5
//	system: You summarise documents in {{.words}} words or fewer.
//	temperature: 0.2
//	max_tokens: 400
//	---
//	Summarise this document:
//	{{untrusted .document}}
//
// Load a folder (or an embed.FS) into a Registry, pick a prompt by name (the
// latest version by semver) or by name@version, and render it:
//
//	reg, err := prompt.LoadDir("prompts")
//	p, err := reg.Lookup("summarise")
//	req, err := p.Render(map[string]any{"words": 50, "document": text})
//
// The request carries the tags callinfo.TagPrompt (the name) and
// callinfo.TagPromptVersion (version+"+"+a short hash of the file), so logs,
// metrics and traces say exactly which text a call used. A variable the
// template uses but the caller did not give is refused before any request
// exists.
package prompt
