package cost

import "github.com/keelai/keel/llm"

// EstimateTokens returns a quick upper-leaning estimate of a request's
// input tokens, for budgets, rate limits and routing that must decide
// before the call: about four bytes of text per token, a flat allowance
// for images and documents, and a few tokens of framing per message and
// tool. Use a model's llm.TokenCounter when the exact count is worth a
// round trip.
func EstimateTokens(req *llm.Request) int {
	n := 0
	for _, s := range req.System {
		n += textTokens(s.Text)
	}
	for _, m := range req.Messages {
		n += 4 + partsTokens(m.Parts)
	}
	for _, t := range req.Tools {
		n += 8 + textTokens(t.Name) + textTokens(t.Description) + (len(t.InputSchema)+3)/4
	}
	if req.Output != nil {
		n += (len(req.Output.Schema) + 3) / 4
	}
	return n
}

const (
	imageTokens = 1600 // a large image at Anthropic's and OpenAI's rates
	pdfPageish  = 3000 // bytes of PDF per page, roughly
)

func partsTokens(parts []llm.Part) int {
	n := 0
	for _, p := range parts {
		switch p := p.(type) {
		case llm.Text:
			n += textTokens(p.Text)
		case llm.Thinking:
			n += textTokens(p.Text)
		case llm.ToolCall:
			n += textTokens(p.Name) + (len(p.Input)+3)/4
		case llm.ToolResult:
			n += partsTokens(p.Content)
		case llm.Image:
			n += imageTokens
		case llm.Document:
			if p.MediaType == "text/plain" {
				n += (len(p.Data) + 3) / 4
			} else {
				n += max(1, len(p.Data)/pdfPageish) * imageTokens
			}
		}
	}
	return n
}

func textTokens(s string) int { return (len(s) + 3) / 4 }
