package train

// Fixtures shared by the package's tests: the models, adapters, examples and batches they
// train on, and the PEFT reference fixtures.

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/valora-go/valora/internal/reftest"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// stories loads testdata/stories260k, closed when the test ends.
func stories(t testing.TB) *model.Model {
	t.Helper()
	m, err := model.Load("../testdata/stories260k")
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// synthetic makes n examples with prompts of varied length and one- or two-token answers.
func synthetic(n int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 1))
	xs := make([]Example, n)
	for i := range xs {
		p := make([]int, 3+rng.IntN(9))
		for j := range p {
			p[j] = 3 + rng.IntN(500)
		}
		p[0] = 1
		a := []int{300 + i%5}
		if i%3 == 0 {
			a = append(a, 301)
		}
		xs[i] = Example{Prompt: p, Answer: a}
	}
	return xs
}

// smallAdapter is a rank-8 adapter on every projection of m, its B matrices nudged off zero.
func smallAdapter(t testing.TB, m *model.Model, dropout float64) *lora.Adapter {
	t.Helper()
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Dropout, cfg.Seed = 8, 16, dropout, 5
	a, err := lora.New(m, cfg)
	require.NoError(t, err)
	nudgeB(a, rand.New(rand.NewPCG(9, 9)), 0.01)
	return a
}

// nudgeB adds normal noise of standard deviation std to every B matrix of a, in the order of
// a.Each: B away from zero, so that the gradients of A are not zero.
func nudgeB(a *lora.Adapter, rng *rand.Rand, std float64) {
	a.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		for i := range p.B {
			p.B[i] += float32(rng.NormFloat64() * std)
		}
	})
}

func runConfig(dir string) Config {
	c := DefaultConfig()
	c.LR, c.Epochs, c.BatchSize, c.Accum, c.Dir, c.Seed, c.SaveEvery = 5e-3, 2, 4, 2, dir, 7, 1
	c.Patience = 0
	return c
}

// allGrads returns the gradients of every matrix of e, dA then dB of each param.
func allGrads(e *Engine) []float32 {
	var out []float32
	for _, p := range e.params {
		out = append(out, p.gradA...)
		out = append(out, p.gradB...)
	}
	return out
}

// adapterWeights returns every matrix of a, A then B of each pair in the order of a.Each.
func adapterWeights(a *lora.Adapter) []float32 {
	var w []float32
	a.Each(func(_ int, _ model.Proj, p *lora.Pair) {
		w = append(w, p.A...)
		w = append(w, p.B...)
	})
	return w
}

// labelledBatch is a batch of b rows of t tokens, token(i) at position i, whose last n
// positions in each row are labelled label(token) and the others IgnoreIndex; token and label
// are called in position order, a position's label after its token.
func labelledBatch(b, t, n int, token func(i int) int32, label func(id int32) int32) (model.Batch, []int32) {
	batch := model.Batch{B: b, T: t, IDs: make([]int32, b*t)}
	labels := make([]int32, b*t)
	for i := range batch.IDs {
		batch.IDs[i] = token(i)
		labels[i] = IgnoreIndex
		if i%t >= t-n {
			labels[i] = label(batch.IDs[i])
		}
	}
	return batch, labels
}

// randomTokens returns a token source for labelledBatch: uniform in [lo, hi) from rng.
func randomTokens(rng *rand.Rand, lo, hi int) func(int) int32 {
	return func(int) int32 { return int32(lo + rng.IntN(hi-lo)) }
}

// sameToken labels a position with its own token.
func sameToken(id int32) int32 { return id }

// fixture is a directory of testdata with PEFT references: the model, its adapter, the
// references (g, goldens.safetensors) and the batch and labels they were computed on.
type fixture struct {
	m      *model.Model
	a      *lora.Adapter
	g      map[string]model.Tensor
	batch  model.Batch
	labels []int32
	dir    string
}

// loadFixture loads the fixture testdata/name.
func loadFixture(t *testing.T, name string) *fixture {
	t.Helper()
	dir := filepath.Join("..", "testdata", name)
	m, err := model.Load(filepath.Join(dir, "model"))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	a, err := lora.Load(filepath.Join(dir, "adapter"), m)
	require.NoError(t, err)
	f := &fixture{m: m, a: a, dir: dir}
	f.g = f.tensors(t, "goldens.safetensors")
	ids := f.g["input_ids"]
	f.batch = model.Batch{B: ids.Shape[0], T: ids.Shape[1], IDs: make([]int32, len(ids.I64))}
	for i, v := range ids.I64 {
		f.batch.IDs[i] = int32(v)
	}
	for _, v := range f.g["train.labels"].I64 {
		f.labels = append(f.labels, int32(v))
	}
	return f
}

// peftFixtures are the fixtures of testdata with PEFT's losses, gradients and AdamW steps.
var peftFixtures = []string{"llama-tiny", "qwen3-tiny"}

// eachFixture runs test as a subtest on each of peftFixtures.
func eachFixture(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, name := range peftFixtures {
		t.Run(name, func(t *testing.T) { test(t, loadFixture(t, name)) })
	}
}

// tensors reads a safetensors file of the fixture's directory.
func (f *fixture) tensors(t *testing.T, name string) map[string]model.Tensor {
	t.Helper()
	ts, err := model.ReadTensors(filepath.Join(f.dir, name))
	require.NoError(t, err)
	return ts
}

// relErr is |g - ref| / |ref| over a whole tensor (Euclidean norms).
func relErr(g, ref []float32) float64 {
	var num, den float64
	for i := range g {
		d := float64(g[i]) - float64(ref[i])
		num += d * d
		den += float64(ref[i]) * float64(ref[i])
	}
	return math.Sqrt(num) / math.Sqrt(den)
}

// runOpGraph runs op over the inputs xs in a one-op graph compiled as a step is (pooled
// buffers), its backward seeded with seed (a matrix of the output's shape, or a float32 for a
// scalar output) and taken with respect to every input. It returns copies of the output and
// of the inputs' gradients, and the part, its values still bound.
func runOpGraph(t *testing.T, op G.Op, seed any, xs ...*tensor.Dense) ([]float32, [][]float32, *part) {
	t.Helper()
	gr := &graph{pool: newPool()}
	b := newBuilder(nil, nil, shapeKey{}, gr, nil)
	var in G.Nodes
	for i, x := range xs {
		in = append(in, b.input(string(rune('a'+i)), x))
	}
	out := b.apply(op, in...)
	var sd *G.Node
	switch s := seed.(type) {
	case *tensor.Dense:
		sd = b.input("seed", s)
	case float32:
		sd = G.NewScalar(b.g, G.Float32, G.WithName("seed"), G.WithValue(s))
	}
	require.NoError(t, b.err)
	grads, err := b.differentiate(out, sd, in, nil)
	require.NoError(t, err)
	p, _ := b.compile()
	gr.pool.begin()
	require.NoError(t, p.vm.RunAll())
	val := func(v G.Value) []float32 {
		if f, ok := v.(*G.F32); ok {
			return []float32{float32(*f)}
		}
		d, _, _ := gr.pool.data(v)
		return append([]float32(nil), d...)
	}
	dx := make([][]float32, len(grads))
	for i, g := range grads {
		dx[i] = val(g.Value())
	}
	return val(out.Value()), dx, p
}

// randMat is a [rows, cols] matrix of normal values times std, and its values in float64.
func randMat(rng *rand.Rand, rows, cols int, std float64) (*tensor.Dense, []float64) {
	m, x := newMat(rows, cols), make([]float64, rows*cols)
	d, _, _ := data(m)
	for i := range d {
		d[i] = float32(rng.NormFloat64() * std)
		x[i] = float64(d[i])
	}
	return m, x
}

// refGrad is the central finite-difference gradient, in float32, of the loss Σ ref()·w with
// respect to x, which ref reads: the gradient an op's backward gives for an upstream gradient w.
func refGrad(x, w []float64, ref func() []float64) []float32 {
	return f32(reftest.NumGrad(x, func() float64 { return reftest.Dot(ref(), w) }))
}

// f32 rounds a float64 reference to float32, for relErr.
func f32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
