package llm

// ImageRequest is one image generation or edit in canonical form: OpenAI's
// /v1/images/generations and /v1/images/edits, and Gemini's
// generateContent with image output.
type ImageRequest struct {
	Model  string
	Prompt string
	// N is how many images to make (0: one).
	N int
	// Width and Height are the size asked for (0: the model's default);
	// Quality is the client's word for it ("", "high", "hd", ...).
	Width, Height int
	Quality       string
	// Images are the input images of an edit, in order.
	Images []Blob
	// OutputFormat is the MIME type asked for ("": the model's default).
	OutputFormat string
	// URL: the client asked for URLs rather than bytes.
	URL bool
	// Edit: the client called an edit endpoint.
	Edit bool
}

// Blob is media bytes with their type.
type Blob struct {
	MIMEType string
	Data     []byte
	// URL is where the gateway serves Data, when it stored it for a
	// client that asked for URLs.
	URL string
}

// ImageResponse is the images an upstream made, with its usage.
type ImageResponse struct {
	Images []Blob
	// Text is what the model said besides the images (a revised prompt).
	Text  string
	Usage Usage
	// Created is when the answer was made (Unix seconds); the relay sets
	// it when the upstream does not.
	Created int64
}
