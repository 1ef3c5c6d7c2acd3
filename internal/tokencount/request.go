package tokencount

import "switchboard/internal/llm"

// Request estimates the prompt tokens of a hub request: its text, tool
// definitions and system prompt, each image at what providers bill a
// typical 1024×1024 one, and a little framing per turn and tool call. It is
// exact for no provider but the same everywhere.
func Request(req *llm.Request) int64 {
	var c Stream
	addParts := func(parts []llm.Part) {
		for _, p := range parts {
			c.WriteString(p.Text)
			c.Write(p.Arguments)
			for _, sub := range p.Content {
				c.WriteString(sub.Text)
			}
			switch p.Type {
			case llm.PartImage:
				c.Add(1600)
			case llm.PartToolCall, llm.PartToolResult:
				c.Add(8)
			}
		}
	}
	addParts(req.System)
	for _, m := range req.Messages {
		c.Add(4) // role and framing
		addParts(m.Parts)
	}
	for _, t := range req.Tools {
		c.WriteString(t.Name)
		c.WriteString(t.Description)
		c.Write(t.Parameters)
		c.Write(t.Raw)
	}
	return c.Total()
}
