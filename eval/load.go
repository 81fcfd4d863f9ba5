package eval

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// loadFile opens path and reads it with read (one of the Read* loaders, which name path in
// their errors); what names the data set in the error of opening the file.
func loadFile[T any](path, what string, read func(r io.Reader, name string) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: load %s: %w", what, err)
	}
	defer f.Close()
	return read(f, path)
}

// readJSONL decodes every non-empty line of r with decode, which gets the line's 1-based number
// and bytes, and returns the results in order. Errors name the data set (what), the file (name)
// and the line.
func readJSONL[T any](r io.Reader, name, what string, decode func(line int, raw []byte) (T, error)) ([]T, error) {
	var out []T
	err := eachJSONLine(r, func(line int, raw []byte) error {
		v, err := decode(line, raw)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eval: load %s %s: %w", what, name, err)
	}
	return out, nil
}

// eachJSONLine calls fn with the 1-based line number and bytes of every non-empty line of r,
// and wraps fn's errors with the line number.
func eachJSONLine(r io.Reader, fn func(line int, raw []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), MaxJSONLine)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(strings.TrimSpace(string(raw))) == 0 {
			continue
		}
		if err := fn(line, raw); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than the limit of %d bytes a line (MaxJSONLine): %w", line+1, MaxJSONLine, err)
		}
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// MaxJSONLine is the longest line the JSONL loaders accept (64 MiB).
const MaxJSONLine = 64 << 20
