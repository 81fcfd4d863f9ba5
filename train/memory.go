package train

// Memory budget of training.
//
// A training run holds, at its peak:
//
//   - the frozen weights, once, in their stored precision: a checkpoint loaded by model.Load is
//     memory-mapped, and no kernel widens a bfloat16 or float16 weight to a float32 copy (the
//     products decode it while packing their panels). Of an untied embedding only the rows of
//     the tokens met are read, so only those pages are resident.
//   - the adapter's state in float32: the matrices, their gradients and AdamW's two moments,
//     16 bytes per parameter (the moments are allocated by the first update).
//   - the step's activations, recycled through the engine's buffer pool. Without
//     checkpointing the forward pass keeps, per trained layer, what its backward ops read (the
//     layer's input, both norms' outputs, q, k, v, the attention output and probabilities,
//     the MLP's gate, up and product, x Aᵀ of every adapted projection). With checkpointing
//     (Engine.Checkpointing) the forward pass keeps only each trained layer's input, and the
//     backward pass recomputes one layer's activations at a time from it: one more forward
//     pass through the layers, about half again a LoRA step's compute (its backward pass
//     computes no weight gradient, so it costs about what the forward pass does). The
//     activations then take the inputs of all layers plus one layer's.
//   - the runtime, the program and the kernels' scratch (a fixed overhead).
//
// EstimateMemory adds these up for a batch shape; PlanMemory (and Engine.PlanMemory, and the
// trainer before a run) compares the estimate with the memory available and returns an error
// that gives the estimate and what would make the step fit. Measured peaks are within 15% of
// the estimate (TestMemoryEstimateMatchesPeakRSS).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/valora-go/valora/internal/kern"
	"github.com/valora-go/valora/internal/stfile"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// Checkpointing says when a training step recomputes each layer's activations in the
// backward pass rather than keeping them from the forward pass (gradient checkpointing). The
// loss and the gradients are the same either way, bit for bit.
type Checkpointing int

const (
	// CheckpointAuto recomputes them for a batch shape whose step would not fit with a tenth
	// to spare in the memory available otherwise (Engine.MemoryLimit, else AvailableMemory).
	CheckpointAuto Checkpointing = iota
	// CheckpointOff keeps every activation the backward pass reads.
	CheckpointOff
	// CheckpointOn always recomputes them.
	CheckpointOn
)

// String is "auto", "off" or "on".
func (c Checkpointing) String() string {
	if c >= 0 && int(c) < len(checkpointingNames) {
		return checkpointingNames[c]
	}
	return fmt.Sprintf("Checkpointing(%d)", int(c))
}

var checkpointingNames = [...]string{CheckpointAuto: "auto", CheckpointOff: "off", CheckpointOn: "on"}

// ParseCheckpointing reads "auto", "on" or "off" (also "true", "false").
func ParseCheckpointing(s string) (Checkpointing, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return CheckpointAuto, nil
	case "on", "true", "yes", "1":
		return CheckpointOn, nil
	case "off", "false", "no", "0":
		return CheckpointOff, nil
	}
	return 0, fmt.Errorf("train: checkpointing %q, want auto, on or off", s)
}

// StepShape is the size of a training micro-batch.
type StepShape struct {
	Batch int // rows
	Seq   int // tokens per row (the engine rounds it up to a multiple of 8)
	// Predicted is the number of positions whose logits predict a label (the loss rows,
	// rounded up to a multiple of 8); 0 means one per row.
	Predicted int
}

// MemoryEstimate is the expected peak resident memory of training, in bytes.
type MemoryEstimate struct {
	Weights     int64 // the frozen weights, once, in their stored precision (see Embedding)
	Embedding   int64 // of the weights, the embedding rows a step reads (all of it when tied or not mapped)
	Adapter     int64 // matrices, gradients and AdamW moments, float32
	Activations int64 // the step's values and saved state at their peak, the pool's idle buffers included
	Overhead    int64 // runtime, program, kernels' scratch
	Extra       int64 // what the caller holds besides (MemoryPlan.Extra)
	Total       int64

	Checkpointing bool
	Shape         StepShape
}

const gib = 1 << 30

// size writes a byte count in GiB, or MiB below one GiB.
func size(b int64) string {
	if b >= gib {
		return fmt.Sprintf("%.2f GiB", float64(b)/gib)
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// String summarises the estimate.
func (m MemoryEstimate) String() string {
	mode := "activations kept"
	if m.Checkpointing {
		mode = "activations recomputed per layer"
	}
	s := fmt.Sprintf("%s = weights %s + adapter state %s + activations %s (batch %d x %d, %s) + overhead %s",
		size(m.Total), size(m.Weights), size(m.Adapter), size(m.Activations), m.Shape.Batch, m.Shape.Seq, mode, size(m.Overhead))
	if m.Extra > 0 {
		s += " + other " + size(m.Extra)
	}
	return s
}

// MemoryPlan is what PlanMemory checks.
type MemoryPlan struct {
	Shape         StepShape
	Checkpointing Checkpointing
	// Limit is the memory in bytes training may take, weights included; 0: AvailableMemory.
	Limit int64
	// Extra is memory the caller holds besides the model, the adapter state and the step (the
	// trainer's copy of the best adapter).
	Extra int64
}

// overheadBytes is the fixed part of the estimate: the Go runtime, the program and its
// libraries, the compiled graphs, the kernels' packing buffers and decode tiles (measured at
// about 80 MiB with 2 processors).
func overheadBytes() int64 { return 64<<20 + int64(runtime.GOMAXPROCS(0))*8<<20 }

// EstimateMemory estimates the peak resident memory of training an adapter of configuration
// lc on m with micro-batches of shape s, with or without checkpointing.
func EstimateMemory(m *model.Model, lc lora.Config, s StepShape, checkpointing bool) MemoryEstimate {
	return estimate(sizeOf(m), lc, stepKey(s, checkpointing), 0)
}

// EstimateMemoryConfig is EstimateMemory for a checkpoint of configuration c with weights of
// dtype ("bfloat16", "float16" or "float32"), memory-mapped as model.Load maps it, before it
// is loaded (or written).
func EstimateMemoryConfig(c *model.Config, dtype string, lc lora.Config, s StepShape, checkpointing bool) (MemoryEstimate, error) {
	sz, err := sizeOfConfig(c, dtype)
	if err != nil {
		return MemoryEstimate{}, err
	}
	return estimate(sz, lc, stepKey(s, checkpointing), 0), nil
}

// sized is what the estimate needs of a model: its configuration and the resident size of its
// weights once a step of n tokens has run, and of that the embedding's part.
type sized struct {
	c       *model.Config
	weights func(n int) (total, embed int64)
}

func sizeOf(m *model.Model) sized {
	return sized{&m.Config, func(n int) (int64, int64) { return weightBytes(m, n) }}
}

// sizeOfConfig is the size of a mapped checkpoint of configuration c in dtype.
func sizeOfConfig(c *model.Config, dtype string) (sized, error) {
	per := map[string]int64{"bfloat16": 2, "float16": 2, "float32": 4}[strings.TrimPrefix(dtype, "torch.")]
	half, _, ok := c.TensorBytes()
	if per == 0 || !ok {
		return sized{}, fmt.Errorf("train: memory estimate: dtype %q or config sizes not supported", dtype)
	}
	return sized{c, func(n int) (int64, int64) {
		all := half / 2 * per
		embed := int64(c.VocabSize) * int64(c.HiddenSize) * per
		if c.TieWordEmbeddings {
			return all, embed
		}
		res := embedResident(embed, c.VocabSize, n)
		return all - embed + res, res
	}}, nil
}

// embedResident is the resident part of a mapped embedding of size bytes and rows rows once n
// of its rows have been read: a row straddles at most one more page, and a fault maps the
// pages around it that are in the page cache too (Linux's fault-around, 64 KiB).
func embedResident(size int64, rows, n int) int64 {
	if rows <= 0 {
		return size
	}
	const page, around = 4096, 64 << 10
	row := size / int64(rows)
	perRow := max((row+page-1)/page*page+page, around)
	return min(size, int64(n)*perRow)
}

// stepKey is the graph shape of a micro-batch of shape s.
func stepKey(s StepShape, ckpt bool) shapeKey {
	b, t := max(s.Batch, 1), max(s.Seq, 1)
	k := s.Predicted
	if k <= 0 {
		k = b
	}
	t += (shapeQuantum - t%shapeQuantum) % shapeQuantum
	k += (shapeQuantum - k%shapeQuantum) % shapeQuantum
	return shapeKey{b: b, t: t, k: k, padded: true, ckpt: ckpt}
}

func estimate(sz sized, lc lora.Config, key shapeKey, extra int64) MemoryEstimate {
	e := MemoryEstimate{Checkpointing: key.ckpt, Shape: StepShape{Batch: key.b, Seq: key.t, Predicted: key.k}, Extra: extra}
	c := sz.c
	e.Weights, e.Embedding = sz.weights(key.tokens())
	lay := adapterLayout(c, lc)
	e.Adapter = 16 * lay.params
	e.Activations = 4 * activationFloats(c, lay, lc.Dropout > 0, key)
	e.Overhead = overheadBytes()
	e.Total = e.Weights + e.Adapter + e.Activations + e.Overhead + e.Extra
	return e
}

// weightBytes is the resident size of m's weights when a step of n tokens has run, and of
// that the embedding's part: for a mapped checkpoint with an untied embedding, the pages of n
// rows; otherwise all of it.
func weightBytes(m *model.Model, n int) (total, embed int64) {
	size := func(w *kern.Weight) int64 {
		if w == nil {
			return 0
		}
		return 4*int64(len(w.F32)) + 2*int64(len(w.Half))
	}
	embed = size(m.Embed)
	mapped := m.Dir != "" && !stfile.ReadIntoMemory && os.Getenv("VALORA_NO_MMAP") != "1"
	if mapped && m.LMHead != m.Embed && m.Embed != nil {
		embed = embedResident(embed, m.Embed.Rows, n)
	}
	total = embed + 4*int64(len(m.Norm))
	if m.LMHead != m.Embed {
		total += size(m.LMHead)
	}
	for i := range m.Layers {
		L := &m.Layers[i]
		for _, w := range L.Proj {
			total += size(w)
		}
		total += 4 * int64(len(L.InputNorm)+len(L.PostNorm)+len(L.QNorm)+len(L.KNorm))
	}
	return total, embed
}

// layout is where an adapter configuration puts matrices.
type layout struct {
	params  int64 // adapter parameters
	lo      int   // the lowest layer with a matrix (NumLayers: none)
	trained int   // layers from lo up (each has a backward pass)
	rank    int64 // the rank of every matrix
	nproj   int64 // adapted projections per adapted layer
	in      int64 // Σ input width over them (dropout masks)
}

func adapterLayout(c *model.Config, lc lora.Config) layout {
	layers := lc.Layers
	if layers == nil {
		layers = make([]int, c.NumLayers)
		for i := range layers {
			layers[i] = i
		}
	}
	lay := layout{lo: c.NumLayers}
	seen := map[model.Proj]bool{}
	for _, p := range lc.Targets {
		if p >= model.NumProj || seen[p] {
			continue
		}
		seen[p] = true
		s := c.ProjShape(p)
		lay.nproj++
		lay.in += int64(s[1])
		lay.params += int64(lc.Rank) * int64(s[0]+s[1]) * int64(len(layers))
	}
	for _, l := range layers {
		if l >= 0 && l < c.NumLayers {
			lay.lo = min(lay.lo, l)
		}
	}
	if len(seen) == 0 {
		lay.lo = c.NumLayers
	}
	lay.rank = int64(lc.Rank)
	lay.trained = c.NumLayers - lay.lo
	return lay
}

// activationFloats is the float32 values the step of shape key holds at its peak: the
// buffer pool keeps, for every buffer length, as many buffers as the step had live at once
// (counted here per length class), and the graph holds its [N, hidden] embedding input.
func activationFloats(c *model.Config, lay layout, dropout bool, key shapeKey) int64 {
	n := int64(key.tokens())
	h, kv, inter := int64(c.HiddenSize), int64(c.NumKVHeads*c.HeadDim), int64(c.IntermediateSize)
	qd := int64(c.NumHeads * c.HeadDim)
	v, k := int64(c.VocabSize), int64(key.k)
	L := int64(lay.trained)
	var probs int64
	hq := int64(c.NumHeads)
	if key.g > 0 {
		b, t, p := int64(key.b), int64(key.t), int64(key.p)
		probs = int64(key.g)*hq*p*p + b*hq*t*(p+t)
	} else {
		b, t := int64(key.b), int64(key.t)
		probs = b * hq * t * t
	}
	// Buffers per length class: [N, hidden], [N, heads·headDim], [N, kv heads·headDim],
	// [N, intermediate], [N, rank] and the attention probabilities (counted on the graphs'
	// schedules; q/k norms keep their inputs too).
	qk := int64(0)
	if c.QKNorm {
		qk = 1
	}
	var nh, nq, nkv, ni, nr, np int64
	switch {
	case L == 0:
	case key.ckpt:
		// every trained layer's kept input, and one layer's recomputed activations and
		// backward values
		nh, nq, nkv, ni, nr, np = L+6, 3+qk, 4+qk, 5, lay.nproj+1, 1
	default:
		nh, nq, nkv, ni, nr, np = 4*L+2, (2+qk)*L+1, (2+qk)*L+2, 3*L+2, lay.nproj*L+1, L
	}
	if L > 0 && trimsLast(dropout, key.ckpt) {
		// The last layer runs on the k label rows after its attention: the attention output,
		// normalised stream and gate/up activations it keeps for its backward are k rows long
		// (fitted on TestActivationEstimateMatchesPool's shapes: within 2%).
		nh, nq, ni = nh-1, nq-1, ni-2
	}
	if qd == h && nq > 0 { // one length: the two counts peak at different times
		nh, nq = nh+nq-1, 0
	}
	total := n*h*nh + n*qd*nq + n*kv*nkv + n*inter*ni + n*lay.rank*nr + probs*np
	if dropout {
		layers := L
		if key.ckpt {
			layers = 1
		}
		total += 2 * n * lay.in * layers // each mask and the masked input, kept for the backward
	}
	// the embedding input (held by the graph), the head's selected rows, their norm and
	// gradient, the logits and their gradient
	total += n*h + 3*k*h + 2*k*v
	return total
}

// PlanMemory estimates training as EstimateMemory does, deciding CheckpointAuto (off when the
// step fits without it with a tenth of the limit to spare), and returns an error when the estimate exceeds the limit: one that
// gives the estimate, the memory available and what would fit (checkpointing, a smaller
// batch, a lower rank).
func PlanMemory(m *model.Model, lc lora.Config, p MemoryPlan) (MemoryEstimate, error) {
	return planMemory(sizeOf(m), lc, p)
}

// PlanMemoryConfig is PlanMemory for a checkpoint of configuration c with weights of dtype,
// memory-mapped, before it is loaded (or written).
func PlanMemoryConfig(c *model.Config, dtype string, lc lora.Config, p MemoryPlan) (MemoryEstimate, error) {
	sz, err := sizeOfConfig(c, dtype)
	if err != nil {
		return MemoryEstimate{}, err
	}
	return planMemory(sz, lc, p)
}

func planMemory(m sized, lc lora.Config, p MemoryPlan) (MemoryEstimate, error) {
	limit := p.Limit
	if limit <= 0 {
		var err error
		if limit, err = AvailableMemory(); err != nil {
			// Nothing to compare with: the estimate is all there is.
			return estimate(m, lc, stepKey(p.Shape, p.Checkpointing == CheckpointOn), p.Extra), nil
		}
	}
	plain := estimate(m, lc, stepKey(p.Shape, false), p.Extra)
	ckpt := estimate(m, lc, stepKey(p.Shape, true), p.Extra)
	est := plain
	switch p.Checkpointing {
	case CheckpointOn:
		est = ckpt
	case CheckpointAuto:
		if !fitsPlain(plain.Total, limit) {
			est = ckpt
		}
	}
	if est.Total <= limit {
		return est, nil
	}
	var fits []string
	if !est.Checkpointing && ckpt.Total <= limit {
		fits = append(fits, fmt.Sprintf("checkpointing (%s)", size(ckpt.Total)))
	}
	for b := p.Shape.Batch / 2; b >= 1; b /= 2 {
		s := p.Shape
		s.Batch = b
		if s.Predicted > 0 {
			s.Predicted = max(1, s.Predicted*b/p.Shape.Batch)
		}
		if e := estimate(m, lc, stepKey(s, true), p.Extra); e.Total <= limit {
			with := "with checkpointing"
			if e2 := estimate(m, lc, stepKey(s, est.Checkpointing), p.Extra); !est.Checkpointing && e2.Total <= limit {
				e, with = e2, ""
			}
			fits = append(fits, strings.ReplaceAll(fmt.Sprintf("batch %d %s (%s)", b, with, size(e.Total)), "  ", " "))
			break
		}
	}
	for r := lc.Rank / 2; r >= 1; r /= 2 {
		l2 := lc
		l2.Rank = r
		if e := estimate(m, l2, stepKey(p.Shape, true), p.Extra); e.Total <= limit {
			fits = append(fits, fmt.Sprintf("rank %d with checkpointing (%s)", r, size(e.Total)))
			break
		}
	}
	hint := "nothing smaller fits either: the weights alone take " + size(est.Weights)
	if len(fits) > 0 {
		hint = "would fit: " + strings.Join(fits, "; ")
	}
	return est, fmt.Errorf("train: training needs about %s, more than the %s available; %s", est, size(limit), hint)
}

// PlanMemory is PlanMemory for the engine's model and adapter, with its Checkpointing and
// MemoryLimit.
func (e *Engine) PlanMemory(s StepShape) (MemoryEstimate, error) {
	return PlanMemory(e.m, e.a.Config, MemoryPlan{Shape: s, Checkpointing: e.Checkpointing, Limit: e.MemoryLimit, Extra: e.extraMem})
}

// fitsPlain is CheckpointAuto's test: a step that keeps its activations must leave a tenth of
// the limit to spare (the estimate's error, the page cache, other processes).
func fitsPlain(total, limit int64) bool { return total <= limit-limit/10 }

// checkpointed decides whether the step of shape key recomputes its activations.
func (e *Engine) checkpointed(key shapeKey) bool {
	switch e.Checkpointing {
	case CheckpointOn:
		return true
	case CheckpointOff:
		return false
	}
	key.ckpt = false
	if d, ok := e.ckptFor[key]; ok {
		return d
	}
	limit := e.MemoryLimit
	if limit <= 0 {
		var err error
		if limit, err = AvailableMemory(); err != nil {
			limit = 0
		}
	}
	d := limit > 0 && !fitsPlain(estimate(sizeOf(e.m), e.a.Config, key, e.extraMem).Total, limit)
	e.ckptFor[key] = d
	return d
}

// AvailableMemory is the memory this process could take in all, in bytes: what it holds
// (its anonymous resident memory; its mapped files are in the page cache) plus the system's
// MemAvailable from /proc/meminfo, bounded by its cgroup's memory.max. It is an error where
// /proc/meminfo cannot be read (not Linux).
func AvailableMemory() (int64, error) {
	avail, err := meminfoField("/proc/meminfo", "MemAvailable")
	if err != nil {
		return 0, fmt.Errorf("train: available memory: %w", err)
	}
	if anon, err := meminfoField("/proc/self/status", "RssAnon"); err == nil {
		avail += anon
	}
	if raw, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && v > 0 {
			avail = min(avail, v)
		}
	}
	return avail, nil
}

// meminfoField reads a "Name:   123 kB" line of a /proc file, in bytes.
func meminfoField(path, name string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		x, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		if len(f) > 1 && f[1] == "kB" {
			x *= 1024
		}
		return x, nil
	}
	return 0, errors.New(path + ": no " + name)
}

// planRun sets the engine's checkpointing and memory limit from cfg and checks that the
// largest micro-batch of the run fits (PlanMemory), the trainer's copy of the best adapter
// included when there is a validation set.
func (e *Engine) planRun(trainSet, valSet []Example, cfg Config) error {
	e.Checkpointing, e.MemoryLimit = cfg.Checkpointing, cfg.MemoryLimit
	seq, answer := 0, 0
	for _, x := range trainSet {
		seq, answer = max(seq, x.Len()), max(answer, len(x.Answer))
	}
	if len(valSet) > 0 {
		e.extraMem = 4 * int64(e.a.NumParams())
	}
	s := StepShape{Batch: cfg.BatchSize, Seq: seq, Predicted: min(cfg.BatchSize*answer, cfg.BatchSize*seq)}
	_, err := PlanMemory(e.m, e.a.Config, MemoryPlan{Shape: s, Checkpointing: e.Checkpointing, Limit: e.MemoryLimit, Extra: e.extraMem})
	return err
}
