package eval

import (
	"encoding/json"
	"fmt"

	"github.com/valora-go/valora/internal/atomicfile"
)

// WriteJSON writes v as indented JSON (with a final newline) to path, atomically: through a
// temporary file in the same directory that is renamed over path once it is complete, so that
// readers never see a half-written file. Every report of this package can be written with it.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: write %s: encode JSON: %w", path, err)
	}
	return writeFile(path, append(data, '\n'))
}

// MarkdownReport is a report that renders itself as Markdown (a heading and tables).
type MarkdownReport interface {
	Markdown() string
}

// WriteMarkdown writes r.Markdown() to path, atomically (as WriteJSON does).
func WriteMarkdown(path string, r MarkdownReport) error {
	return writeFile(path, []byte(r.Markdown()))
}

func writeFile(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}
