// Package atomicfile writes files atomically: the content goes to a temporary file in the
// destination's directory, which is synced, made readable by all (0644, as os.WriteFile would
// create it) and renamed over the destination. A reader never sees a half-written file, and on
// any error the temporary file is removed and the destination is left as it was.
//
// The rename replaces the destination entry itself: a symbolic link at the destination is
// replaced by the new file, not followed. This is the one atomic writer of valora; users reach
// it through survey.WriteFileAtomic (any func(io.Writer) error) and eval.WriteJSON and
// eval.WriteMarkdown (reports).
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes the file at path through fill, which receives a buffered writer to the
// temporary file. Errors name path.
func Write(path string, fill func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	for _, step := range []func() error{
		func() error { return fill(w) },
		w.Flush,
		func() error { return tmp.Chmod(0o644) },
		tmp.Sync,
		tmp.Close,
		func() error { return os.Rename(tmp.Name(), path) },
	} {
		if err = step(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// WriteFile writes data to path atomically (see Write).
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
