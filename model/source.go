package model

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/valora-go/valora/internal/stfile"
)

// source is where a checkpoint's files come from: a directory (mapped) or an fs.FS (read).
type source struct {
	dir  string
	join func(name string) string                // the path of a file of the checkpoint
	read func(path string) ([]byte, error)       // a small file (config, index)
	open func(path string) (*stfile.File, error) // a safetensors file
}

func dirSource(dir string) source {
	return source{
		dir:  dir,
		join: func(name string) string { return filepath.Join(dir, name) },
		read: os.ReadFile,
		open: stfile.Open,
	}
}

func fsSource(fsys fs.FS, dir string) source {
	read := func(p string) ([]byte, error) { return fs.ReadFile(fsys, p) }
	return source{
		dir:  dir,
		join: func(name string) string { return path.Join(dir, name) },
		read: read,
		open: func(p string) (*stfile.File, error) {
			data, err := read(p)
			if err != nil {
				return nil, fmt.Errorf("safetensors %s: %w", p, err)
			}
			return stfile.Parse(p, data)
		},
	}
}
