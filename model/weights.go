package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/stfile"
)

// Proj names one of the seven linear projections of a decoder layer.
type Proj uint8

// The projections, in the order PEFT lists them.
const (
	ProjQ Proj = iota
	ProjK
	ProjV
	ProjO
	ProjGate
	ProjUp
	ProjDown
	NumProj
)

var projNames = [NumProj]string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// String is the Hugging Face module name ("q_proj", ..., "down_proj").
func (p Proj) String() string {
	if p < NumProj {
		return projNames[p]
	}
	return fmt.Sprintf("Proj(%d)", int(p))
}

// Module is the module path inside a decoder layer ("self_attn.q_proj", "mlp.down_proj").
func (p Proj) Module() string {
	if p <= ProjO {
		return "self_attn." + p.String()
	}
	return "mlp." + p.String()
}

// ParseProj maps "q_proj" (or "q") ... "down_proj" to a Proj.
func ParseProj(name string) (Proj, error) {
	for i, n := range projNames {
		if name == n || name+"_proj" == n {
			return Proj(i), nil
		}
	}
	return 0, fmt.Errorf("unknown projection %q (want one of %s)", name, strings.Join(projNames[:], ", "))
}

// Weight is a frozen weight matrix, [Rows = out, Cols = in] as in a Hugging Face nn.Linear,
// held once in its on-disk precision (DType): F32 uses the F32 field, BF16 and F16 use Half
// (raw IEEE bits). A loaded model's weights are views into its mapped files: read them only
// while the model is open, and change them only inside Model.Exclusive.
type Weight = kern.Weight

// DType is a Weight's storage precision.
type DType = kern.DType

// The storage precisions of a Weight.
const (
	F32  DType = kern.F32
	BF16 DType = kern.BF16
	F16  DType = kern.F16
)

// Rope holds the rotary position embedding's frequencies for a config (Model.Rope).
type Rope = kern.Rope

// Layer holds the weights of one decoder layer.
type Layer struct {
	InputNorm []float32        // input_layernorm.weight [hidden]
	PostNorm  []float32        // post_attention_layernorm.weight [hidden]
	QNorm     []float32        // self_attn.q_norm.weight [head_dim] (Qwen3 only)
	KNorm     []float32        // self_attn.k_norm.weight [head_dim] (Qwen3 only)
	Proj      [NumProj]*Weight // the seven projections, [out, in]
}

// Model is a loaded checkpoint. Forward, Generate and CheckFinite may run concurrently: each
// is a pass that holds the model's weights while it runs. Close waits for the passes in flight,
// then releases the weights; passes after Close return an error wrapping ErrClosed. Exclusive
// runs a change of the weights (lora's Merge and Unmerge) with no pass in flight.
//
// The exported weight fields are views into the mapped files: code that reads them directly
// (package train) must not do so after Close, nor while an Exclusive change runs.
type Model struct {
	Config Config
	Dir    string
	Embed  *Weight // model.embed_tokens.weight [vocab, hidden]
	Layers []Layer
	Norm   []float32 // model.norm.weight [hidden]
	LMHead *Weight   // lm_head.weight, or Embed when tied

	rope  *kern.Rope
	files []*stfile.File

	// mu guards the weights against Close and Exclusive: a pass holds it for reading, Close and
	// Exclusive for writing. sync.RWMutex keeps new passes back while a writer waits, so a
	// stream of passes cannot starve Close or a merge.
	mu     sync.RWMutex
	closed bool

	threads atomic.Int32 // SetThreads' cap (0: every processor)
}

// SetThreads caps the goroutines each pass of the model (Forward, Generate, and the training
// steps of package train) runs its kernels on: n > 0 means at most n, 0 (the default) means
// runtime.GOMAXPROCS. Options.Threads overrides it per call. It may be called at any time;
// passes that have started keep the cap they started with. It sets nothing process-wide: two
// models in one process can each have their own cap.
func (m *Model) SetThreads(n int) { m.threads.Store(int32(max(n, 0))) }

// Threads returns the cap set by SetThreads (0: every processor).
func (m *Model) Threads() int { return int(m.threads.Load()) }

// threadsFor is the kernel cap of a pass that asks for n threads (0: the model's cap).
func (m *Model) threadsFor(n int) kern.Threads {
	if n > 0 {
		return kern.Threads(n)
	}
	return kern.Threads(m.threads.Load())
}

// ErrClosed is returned (wrapped) by a pass or an Exclusive change on a closed Model.
var ErrClosed = errors.New("model is closed")

// Close waits for the passes in flight (Forward, Generate, CheckFinite) and for a running
// Exclusive change to end, then releases the mapped weight files. Passes started after Close
// return an error wrapping ErrClosed. Closing a closed model does nothing and returns nil.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	m.files = nil
	return errors.Join(errs...)
}

// enter starts a pass (op names it in the error): it fails with ErrClosed after Close and
// waits while an Exclusive change runs. Every successful enter is paired with a leave. A pass
// never enters twice (a waiting writer would deadlock it): passes call the unguarded helpers.
func (m *Model) enter(op string) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return fmt.Errorf("model: %s: %s: %w", m.Dir, op, ErrClosed)
	}
	return nil
}

// leave ends a pass started by enter.
func (m *Model) leave() { m.mu.RUnlock() }

// Exclusive runs fn while no pass runs on m: it waits for the passes in flight to end and
// holds new ones back (they wait, they do not fail) until fn returns, and returns fn's error.
// It is how the weights are changed under concurrent users (lora.Adapter.Merge and Unmerge use
// it). After Close it returns an error wrapping ErrClosed without calling fn. fn must not call
// Forward, Generate, CheckFinite, Close or Exclusive on m (they would wait for fn forever).
//
// Passes exclude a change only while each runs: a change between two passes that continue one
// Cache, or between the batches of a scorer, is seen by the later ones only.
func (m *Model) Exclusive(fn func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("model: %s: exclusive change: %w", m.Dir, ErrClosed)
	}
	return fn()
}

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

func load(src source) (*Model, error) {
	dir := src.dir
	cpath := src.join("config.json")
	raw, err := src.read(cpath)
	if err != nil {
		return nil, fmt.Errorf("model: config %s: %w", cpath, err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("model: config %s: %w", cpath, err)
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
	return m, nil
}

// newRope returns the rotary embedding tables the config implies.
func (c *Config) newRope() (*kern.Rope, error) {
	r, err := kern.NewRope(c.HeadDim, c.RopeTheta, &kern.RopeScaling{
		Type: c.Rope.Type, Factor: c.Rope.Factor, LowFreqFactor: c.Rope.LowFreqFactor,
		HighFreqFactor: c.Rope.HighFreqFactor, OriginalMaxPositions: c.Rope.OriginalMaxPositions,
	})
	if err != nil {
		return nil, fmt.Errorf("rope: %w", err)
	}
	return r, nil
}

func (m *Model) initRope() error {
	r, err := m.Config.newRope()
	m.rope = r
	return err
}

// Rope is the model's rotary embedding (for package train, which builds its own graph of the
// same equations).
func (m *Model) Rope() *Rope { return m.rope }

// ProjShape is the [out, in] shape of projection p's weight.
func (c *Config) ProjShape(p Proj) [2]int {
	h, qd, kvd, inter := c.HiddenSize, c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim, c.IntermediateSize
	return [NumProj][2]int{{qd, h}, {kvd, h}, {kvd, h}, {h, qd}, {inter, h}, {inter, h}, {h, inter}}[p]
}

// validateShape checks the sizes a hand-built Config must have (ParseConfig checks the same).
func (c *Config) validateShape() error {
	switch {
	case c.VocabSize <= 0 || c.HiddenSize <= 0 || c.IntermediateSize <= 0 || c.NumLayers <= 0 || c.NumHeads <= 0:
		return fmt.Errorf("model: config has a non-positive size: %+v", *c)
	case c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0:
		return fmt.Errorf("model: num_key_value_heads %d does not divide num_attention_heads %d", c.NumKVHeads, c.NumHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("model: head_dim %d, want a positive even integer", c.HeadDim)
	}
	return nil
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
	names := make([]string, 0, len(shards))
	for s := range shards {
		names = append(names, s)
	}
	sort.Strings(names)
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

type spec struct {
	name  string
	shape []int
}

// expected lists every tensor the config implies, with its shape.
func (c *Config) expected() []spec {
	h, d := c.HiddenSize, c.HeadDim
	s := []spec{{"model.embed_tokens.weight", []int{c.VocabSize, h}}, {"model.norm.weight", []int{h}}}
	if !c.TieWordEmbeddings {
		s = append(s, spec{"lm_head.weight", []int{c.VocabSize, h}})
	}
	for l := 0; l < c.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		s = append(s, spec{p + "input_layernorm.weight", []int{h}}, spec{p + "post_attention_layernorm.weight", []int{h}})
		if c.QKNorm {
			s = append(s, spec{p + "self_attn.q_norm.weight", []int{d}}, spec{p + "self_attn.k_norm.weight", []int{d}})
		}
		for j := Proj(0); j < NumProj; j++ {
			ps := c.ProjShape(j)
			s = append(s, spec{p + j.Module() + ".weight", ps[:]})
		}
	}
	return s
}

// bind checks every tensor against the config and builds the weight views.
func (m *Model) bind() error {
	all := map[string]stfile.Tensor{}
	for _, f := range m.files {
		for _, n := range f.Names() {
			t, _ := f.Tensor(n)
			if _, dup := all[n]; dup {
				return fmt.Errorf("tensor %s is stored in more than one shard", n)
			}
			all[n] = t
		}
	}
	// The config's sizes against what the files hold, before the list of expected tensors is
	// built (num_hidden_layers 1e7 must not allocate millions of names first).
	var held int64
	for _, t := range all {
		held += int64(len(t.Data))
	}
	if err := m.Config.validateShape(); err != nil {
		return err
	}
	need, count, ok := m.Config.TensorBytes()
	if !ok {
		return fmt.Errorf("config sizes out of bounds: %+v", m.Config)
	}
	if count > len(all) {
		return fmt.Errorf("config implies %d tensors (num_hidden_layers %d), the weight files hold %d", count, m.Config.NumLayers, len(all))
	}
	if need > held {
		return fmt.Errorf("config implies at least %d bytes of weights, the weight files hold %d", need, held)
	}
	want := m.Config.expected()
	wanted := map[string]bool{}
	var missing, problems []string
	for _, s := range want {
		wanted[s.name] = true
		t, ok := all[s.name]
		if !ok {
			missing = append(missing, s.name)
			continue
		}
		if !equalShape(t.Shape, s.shape) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, config implies %v", s.name, t.Shape, s.shape))
		}
		switch t.DType {
		case "F32", "BF16", "F16":
		default:
			problems = append(problems, fmt.Sprintf("%s has dtype %s, want F32, BF16 or F16", s.name, t.DType))
		}
	}
	var unexpected []string
	for n := range all {
		if wanted[n] || ignorable(n, m.Config.TieWordEmbeddings) {
			continue
		}
		unexpected = append(unexpected, n)
	}
	sort.Strings(unexpected)
	var msgs []string
	if len(missing) > 0 {
		msgs = append(msgs, fmt.Sprintf("missing tensors: %s", list(missing)))
	}
	if len(unexpected) > 0 {
		msgs = append(msgs, fmt.Sprintf("unexpected tensors: %s", list(unexpected)))
	}
	msgs = append(msgs, problems...)
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}

	var err error
	weight := func(name string) *kern.Weight {
		if err != nil {
			return nil
		}
		var w *kern.Weight
		w, err = toWeight(all[name])
		return w
	}
	vector := func(name string) []float32 {
		if err != nil {
			return nil
		}
		var v []float32
		v, err = all[name].Float32()
		return v
	}
	c := &m.Config
	m.Embed = weight("model.embed_tokens.weight")
	m.Norm = vector("model.norm.weight")
	if c.TieWordEmbeddings {
		m.LMHead = m.Embed
	} else {
		m.LMHead = weight("lm_head.weight")
	}
	m.Layers = make([]Layer, c.NumLayers)
	for l := range m.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		L := &m.Layers[l]
		L.InputNorm = vector(p + "input_layernorm.weight")
		L.PostNorm = vector(p + "post_attention_layernorm.weight")
		if c.QKNorm {
			L.QNorm = vector(p + "self_attn.q_norm.weight")
			L.KNorm = vector(p + "self_attn.k_norm.weight")
		}
		for j := Proj(0); j < NumProj; j++ {
			L.Proj[j] = weight(p + j.Module() + ".weight")
		}
	}
	return err
}

// toWeight wraps a mapped tensor without copying it (unless the data is misaligned).
func toWeight(t stfile.Tensor) (*kern.Weight, error) {
	w := &kern.Weight{Rows: t.Shape[0], Cols: t.Shape[1]}
	var err error
	switch t.DType {
	case "F32":
		w.DType = kern.F32
		w.F32, err = t.Float32()
	case "BF16":
		w.DType = kern.BF16
		w.Half, err = t.Uint16()
	case "F16":
		w.DType = kern.F16
		w.Half, err = t.Uint16()
	}
	if err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return w, nil
}

func ignorable(name string, tied bool) bool {
	return (tied && name == "lm_head.weight") || strings.HasSuffix(name, ".rotary_emb.inv_freq")
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func list(names []string) string {
	const max = 12
	if len(names) > max {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
	}
	return strings.Join(names, ", ")
}
