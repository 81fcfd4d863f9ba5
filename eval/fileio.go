package eval

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path through a temporary file in the same directory that is
// renamed over path once it is complete, so that readers never see a half-written file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	for _, e := range []error{werr, serr, cerr} {
		if e != nil {
			os.Remove(tmp)
			return fmt.Errorf("eval: write %s: %w", path, e)
		}
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v as indented JSON (with a final newline) to path, atomically. Every report
// of this package can be written with it.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: write %s: encode JSON: %w", path, err)
	}
	return WriteFileAtomic(path, append(data, '\n'))
}

// MarkdownReport is a report that renders itself as Markdown (a heading and tables).
type MarkdownReport interface {
	Markdown() string
}

// WriteMarkdown writes r.Markdown() to path, atomically.
func WriteMarkdown(path string, r MarkdownReport) error {
	return WriteFileAtomic(path, []byte(r.Markdown()))
}
