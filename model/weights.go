package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"

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
// while the model is open, and change them only inside Model.Exclusive. Load and Random put
// float32 projections into the Gemm kernel's panel layout (Panel > 0): read those through
// RowF32, or map an index of F32 with RowMajor.
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

// spec is a tensor a config implies: its name and shape.
type spec struct {
	name  string
	shape []int
}

// numel is the number of values of the tensor.
func (s spec) numel() int64 {
	n := int64(1)
	for _, d := range s.shape {
		n *= int64(d)
	}
	return n
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
		if !slices.Equal(t.Shape, s.shape) {
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
	slices.Sort(unexpected)
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

// packPanels puts the float32 projection weights into the Gemm kernel's panel layout
// (Weight.PackPanels), so that every product reads them in place instead of repacking them
// each pass: 12-16% of a Qwen3-0.6B scoring pass. It reads and rewrites each page of those
// weights once (a mapped file's pages become private memory of the same size). Half-precision
// weights, the embedding and the LM head (read by rows) stay as they are.
func (m *Model) packPanels() {
	for l := range m.Layers {
		for _, w := range m.Layers[l].Proj {
			if w != nil {
				w.PackPanels()
			}
		}
	}
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

func list(names []string) string {
	const max = 12
	if len(names) > max {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
	}
	return strings.Join(names, ", ")
}
