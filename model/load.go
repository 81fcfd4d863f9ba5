package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"

	"github.com/valora-go/valora/internal/stfile"
)

// Load reads config.json and the safetensors weights (single file or sharded) from dir. The
// weight files are memory-mapped (copy-on-write): see LoadFS for weights read into memory.
func Load(dir string) (*Model, error) {
	return load(dirSource(dir))
}

// LoadFS reads a checkpoint from the directory dir of fsys ("." for its root): config.json and
// model.safetensors, or the shards model.safetensors.index.json names. The weight files are
// read into memory, not mapped, so that checkpoints can come from an embed.FS, an archive or an
// object store; they then take their size in memory. Load maps a directory's files instead.
func LoadFS(fsys fs.FS, dir string) (*Model, error) {
	return load(fsSource(fsys, dir))
}

func load(src source) (*Model, error) {
	dir := src.dir
	cfg, err := readConfig(src.read, src.join("config.json"))
	if err != nil {
		return nil, err
	}
	files, err := openWeights(src)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: *cfg, Dir: dir, files: files}
	if err := m.bind(); err != nil {
		m.Close()
		return nil, fmt.Errorf("model: load %s: %w", dir, err)
	}
	if err := m.checkNorms(); err != nil {
		m.Close()
		return nil, err
	}
	if err := m.initRope(); err != nil {
		m.Close()
		return nil, fmt.Errorf("model: load %s: %w", dir, err)
	}
	m.packPanels()
	return m, nil
}

// openWeights opens model.safetensors, or every shard named by model.safetensors.index.json.
func openWeights(src source) ([]*stfile.File, error) {
	dir := src.dir
	index := src.join("model.safetensors.index.json")
	raw, err := src.read(index)
	if errors.Is(err, fs.ErrNotExist) {
		f, err := src.open(src.join("model.safetensors"))
		if err != nil {
			return nil, fmt.Errorf("model: load %s: %w", dir, err)
		}
		return []*stfile.File{f}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model: load %s: %w", index, err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("model: load %s: invalid JSON: %w", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("model: load %s: weight_map is missing or empty", index)
	}
	shards := map[string]bool{}
	for _, s := range idx.WeightMap {
		if s == "" || filepath.Base(s) != s || path.Base(s) != s || s == "." || s == ".." {
			return nil, fmt.Errorf("model: load %s: shard name %q is not a file name in %s", index, s, dir)
		}
		shards[s] = true
	}
	names := slices.Sorted(maps.Keys(shards))
	var files []*stfile.File
	byName := map[string]*stfile.File{}
	closeAll := func() {
		for _, o := range files {
			o.Close()
		}
	}
	for _, s := range names {
		f, err := src.open(src.join(s))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("model: load %s: shard named by model.safetensors.index.json: %w", dir, err)
		}
		files = append(files, f)
		byName[s] = f
	}
	// The index must agree with the shards' contents.
	for name, s := range idx.WeightMap {
		if _, found := byName[s].Tensor(name); !found {
			closeAll()
			return nil, fmt.Errorf("model: load %s: index maps %s to %s, which does not contain it", dir, name, s)
		}
	}
	return files, nil
}
