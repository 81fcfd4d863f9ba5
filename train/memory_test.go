package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
)

// TestCheckpointedGradientsMatchPlain: recomputing each layer's activations in the backward
// pass gives the loss and every LoRA gradient of the step that keeps them (the same ops on the
// same values: bit for bit, checked to 1e-6 relative), on both tiny fixtures (Llama, Qwen3
// with its q/k norms), with dropout (each op's mask drawn again from its own stream), with an
// adapter on some layers only (nothing below the lowest is recomputed), with shared prompt
// prefixes, and over two accumulated micro-batches and an optimizer step.
func TestCheckpointedGradientsMatchPlain(t *testing.T) {
	type setup struct {
		m *model.Model
		a *lora.Adapter
		// step accumulates one or more micro-batches; it returns the summed loss
		step func(t *testing.T, e *Engine) float64
	}
	random := func(m *model.Model, b, tl int, seed uint64) (model.Batch, []int32) {
		return labelledBatch(b, tl, 3, randomTokens(rand.New(rand.NewPCG(seed, seed)), 3, m.Config.VocabSize), sameToken)
	}
	accumulate := func(batch model.Batch, labels []int32) func(t *testing.T, e *Engine) float64 {
		return func(t *testing.T, e *Engine) float64 {
			sum, _, err := e.Accumulate(context.Background(), batch, labels, 0.5)
			require.NoError(t, err)
			return sum
		}
	}
	nonZeroB := func(a *lora.Adapter, seed uint64) { nudgeB(a, rand.New(rand.NewPCG(seed, 1)), 0.02) }
	cases := map[string]func(t *testing.T) setup{}
	for _, name := range peftFixtures {
		cases[name] = func(t *testing.T) setup {
			f := loadFixture(t, name)
			return setup{f.m, f.a, accumulate(f.batch, f.labels)}
		}
	}
	cases["stories260k-dropout-padded"] = func(t *testing.T) setup {
		m := stories(t)
		a := smallAdapter(t, m, 0.1)
		xs := synthetic(6, 3)
		return setup{m, a, func(t *testing.T, e *Engine) float64 {
			sum, _, err := e.AccumulateExamples(context.Background(), xs, 0, 0.25, false)
			require.NoError(t, err)
			return sum
		}}
	}
	cases["stories260k-partial"] = func(t *testing.T) setup {
		m := stories(t)
		cfg := lora.DefaultConfig()
		cfg.Rank, cfg.Alpha, cfg.Seed = 6, 8, 3
		cfg.Targets, cfg.Layers = []model.Proj{model.ProjQ, model.ProjV, model.ProjDown}, []int{1, 3}
		a, err := lora.New(m, cfg)
		require.NoError(t, err)
		nonZeroB(a, 4)
		b, l := random(m, 2, 13, 7)
		return setup{m, a, accumulate(b, l)}
	}
	cases["llama-tiny-shared-prefixes"] = func(t *testing.T) setup {
		f := loadFixture(t, "llama-tiny")
		nonZeroB(f.a, 5)
		xs := sharedBatches(f.m.Config.VocabSize, rand.New(rand.NewPCG(8, 8)))["prefixes of different lengths and a row alone"]
		return setup{f.m, f.a, func(t *testing.T, e *Engine) float64 {
			sum, _, err := e.AccumulateExamples(context.Background(), xs, 0, 0.1, true)
			require.NoError(t, err)
			return sum
		}}
	}
	cases["stories260k-two-steps"] = func(t *testing.T) setup {
		m := stories(t)
		a := smallAdapter(t, m, 0)
		b1, l1 := random(m, 3, 16, 1)
		b2, l2 := random(m, 2, 21, 2)
		return setup{m, a, func(t *testing.T, e *Engine) float64 {
			s1 := accumulate(b1, l1)(t, e)
			_, err := e.Update(DefaultAdamW(), 1e-3, UpdateOptions{ZeroGrad: true})
			require.NoError(t, err)
			return s1 + accumulate(b2, l2)(t, e)
		}}
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			initial := takeSnapshot(s.a)
			run := func(mode Checkpointing) (float64, []float32) {
				initial.restore(s.a)
				e, err := NewEngine(s.m, s.a, 11)
				require.NoError(t, err)
				e.Checkpointing = mode
				loss := s.step(t, e)
				for _, gr := range e.graphs {
					require.Equal(t, mode == CheckpointOn, gr.whole == nil, "the mode asked for is the one run")
				}
				return loss, append([]float32(nil), allGrads(e)...)
			}
			lp, gp := run(CheckpointOff)
			lc, gc := run(CheckpointOn)
			require.InDelta(t, lp, lc, 1e-6*math.Abs(lp))
			require.NotZero(t, relErr(gp, make([]float32, len(gp))))
			re := relErr(gc, gp)
			require.LessOrEqual(t, re, 1e-6)
			same := lp == lc
			for i := range gp {
				same = same && gp[i] == gc[i]
			}
			t.Logf("loss %.7g; gradients' relative difference %.3g (bit-identical: %v)", lp, re, same)
		})
	}
}

// memShape is the model of the measured-peak test: small enough to run in seconds, large
// enough that the fixed overhead does not dominate (about 0.5 GiB in all: 0.2 GiB of bfloat16
// weights, 0.1 GiB of adapter state, the rest activations and runtime).
var memShape = model.Config{Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 32000, HiddenSize: 1024,
	IntermediateSize: 2816, NumLayers: 6, NumHeads: 8, NumKVHeads: 4, HeadDim: 128, RMSNormEps: 1e-5,
	RopeTheta: 10000, Rope: model.RopeScaling{Type: "default"}, MaxPositions: 4096, BOSTokenID: -1}

const memRank, memB, memT = 64, 4, 96

// TestMemoryEstimateMatchesPeakRSS: the estimate is within 15% of the peak resident set
// (VmHWM) of a process that loads a bfloat16 checkpoint (mapped), creates a rank-64 adapter
// on every projection and trains two steps of batch 4 x 96 (the loss on the last position),
// with and without checkpointing. Each run is a fresh process (this test binary again), so
// that nothing else the tests did counts in its peak.
func TestMemoryEstimateMatchesPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a 0.2 GB model in two processes")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status (VmHWM) here")
	}
	dir := t.TempDir()
	_, err := model.WriteRandom(dir, memShape, "bfloat16", 1)
	require.NoError(t, err)
	for _, mode := range []Checkpointing{CheckpointOff, CheckpointOn} {
		t.Run(mode.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryPeakHelper$", "-test.v")
			// two processors: the fixed overhead the estimate counts depends on their number
			cmd.Env = append(os.Environ(), "VALORA_MEMORY_HELPER="+dir, "VALORA_MEMORY_CHECKPOINTING="+mode.String(), "GOMAXPROCS=2")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			var peak, est, act, pool int64
			found := false
			for line := range strings.Lines(string(out)) {
				if _, err := fmt.Sscanf(strings.TrimSpace(line), "VALORA_MEMORY peak=%d estimate=%d activations=%d pool=%d", &peak, &est, &act, &pool); err == nil {
					found = true
				}
			}
			require.True(t, found, "the helper's report: %s", out)
			t.Logf("checkpointing %s: peak RSS %.0f MiB, estimate %.0f MiB (%+.1f%%); activations: estimate %.0f MiB, pool %.0f MiB",
				mode, float64(peak)/(1<<20), float64(est)/(1<<20), 100*float64(est-peak)/float64(peak), float64(act)/(1<<20), float64(pool)/(1<<20))
			require.InEpsilon(t, float64(peak), float64(est), 0.15)
		})
	}
}

// TestMemoryPeakHelper is the process TestMemoryEstimateMatchesPeakRSS measures; it does
// nothing unless that test runs it.
func TestMemoryPeakHelper(t *testing.T) {
	dir := os.Getenv("VALORA_MEMORY_HELPER")
	if dir == "" {
		t.Skip("run by TestMemoryEstimateMatchesPeakRSS")
	}
	mode, err := ParseCheckpointing(os.Getenv("VALORA_MEMORY_CHECKPOINTING"))
	require.NoError(t, err)
	m, err := model.Load(dir)
	require.NoError(t, err)
	defer m.Close()
	cfg := lora.DefaultConfig()
	cfg.Rank, cfg.Alpha, cfg.Seed = memRank, 4*memRank, 1
	est := EstimateMemory(m, cfg, StepShape{Batch: memB, Seq: memT}, mode == CheckpointOn)
	a, err := lora.New(m, cfg)
	require.NoError(t, err)
	e, err := NewEngine(m, a, 1)
	require.NoError(t, err)
	e.Checkpointing = mode
	token := randomTokens(rand.New(rand.NewPCG(2, 2)), 0, memShape.VocabSize)
	b, labels := labelledBatch(memB, memT, 1, token, func(int32) int32 { return token(0) })
	for range 2 {
		_, _, err := e.Accumulate(context.Background(), b, labels, 1.0/memB)
		require.NoError(t, err)
		_, err = e.Update(DefaultAdamW(), 1e-4, UpdateOptions{ZeroGrad: true})
		require.NoError(t, err)
	}
	peak, err := meminfoField("/proc/self/status", "VmHWM")
	require.NoError(t, err)
	fmt.Printf("VALORA_MEMORY peak=%d estimate=%d activations=%d pool=%d\n", peak, est.Total, est.Activations, poolWorkingSet(e))
}

// poolWorkingSet is what the engine's buffer pool keeps after a step: for every buffer length,
// as many buffers as the step had live at once.
func poolWorkingSet(e *Engine) int64 {
	var s int64
	for n, c := range e.pool.peak {
		s += 4 * int64(n) * int64(c)
	}
	return s
}

// TestActivationEstimateMatchesPool: the activations of the estimate are the buffers the pool
// holds after a step (plus the graph's embedding input), within 3%, for attention widths equal
// to and different from the hidden size, with and without q/k norms, at two depths, with and
// without checkpointing.
func TestActivationEstimateMatchesPool(t *testing.T) {
	base := model.Config{Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 1000, HiddenSize: 80,
		IntermediateSize: 336, NumHeads: 4, NumKVHeads: 2, RMSNormEps: 1e-5, RopeTheta: 10000,
		Rope: model.RopeScaling{Type: "default"}, MaxPositions: 2048, BOSTokenID: -1}
	for _, tc := range []struct {
		headDim, layers int
		qk              bool
	}{{32, 3, false}, {20, 5, false}, {20, 3, true}, {32, 5, true}} {
		c := base
		c.HeadDim, c.NumLayers, c.QKNorm = tc.headDim, tc.layers, tc.qk
		if tc.qk {
			c.Architecture, c.ModelType = "Qwen3ForCausalLM", "qwen3"
		}
		m, err := model.Random(c, 1)
		require.NoError(t, err)
		for _, mode := range []Checkpointing{CheckpointOff, CheckpointOn} {
			lc := lora.DefaultConfig()
			lc.Rank, lc.Alpha = 8, 16
			a, err := lora.New(m, lc)
			require.NoError(t, err)
			e, err := NewEngine(m, a, 1)
			require.NoError(t, err)
			e.Checkpointing = mode
			const B, T = 2, 24
			b, labels := labelledBatch(B, T, 1, randomTokens(rand.New(rand.NewPCG(1, 1)), 0, c.VocabSize), func(int32) int32 { return 5 })
			_, _, err = e.Accumulate(context.Background(), b, labels, 1)
			require.NoError(t, err)
			est := EstimateMemory(m, lc, StepShape{Batch: B, Seq: T}, mode == CheckpointOn)
			got := poolWorkingSet(e) + 4*B*T*int64(c.HiddenSize) // the pool, and the graph's x0
			t.Logf("head_dim %d, %d layers, q/k norms %v, checkpointing %s: estimate %d bytes, pool %d",
				tc.headDim, tc.layers, tc.qk, mode, est.Activations, got)
			require.InEpsilon(t, float64(got), float64(est.Activations), 0.03)
		}
	}
}

// PlanMemory picks checkpointing when only it fits (CheckpointAuto), and otherwise fails
// before anything runs, with the estimate and what would fit; the engine's automatic choice
// and the trainer's check follow the same limit.
func TestPlanMemoryChoosesAndExplains(t *testing.T) {
	c := model.Config{Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 1000, HiddenSize: 128,
		IntermediateSize: 512, NumLayers: 8, NumHeads: 4, NumKVHeads: 2, HeadDim: 32, RMSNormEps: 1e-5,
		RopeTheta: 10000, Rope: model.RopeScaling{Type: "default"}, MaxPositions: 2048, BOSTokenID: -1}
	m, err := model.Random(c, 1)
	require.NoError(t, err)
	lc := lora.DefaultConfig()
	lc.Rank, lc.Alpha = 16, 32
	s := StepShape{Batch: 8, Seq: 64}
	plain, ckpt := EstimateMemory(m, lc, s, false), EstimateMemory(m, lc, s, true)
	require.Less(t, ckpt.Activations, plain.Activations/3)
	require.Equal(t, plain.Weights, ckpt.Weights)
	a, err := lora.New(m, lc)
	require.NoError(t, err)
	require.Equal(t, 16*int64(a.NumParams()), plain.Adapter, "16 bytes per adapter parameter")
	between := (plain.Total + ckpt.Total) / 2

	est, err := PlanMemory(m, lc, MemoryPlan{Shape: s, Limit: between})
	require.NoError(t, err)
	require.True(t, est.Checkpointing, "auto: only checkpointing fits")
	est, err = PlanMemory(m, lc, MemoryPlan{Shape: s, Limit: plain.Total + 1})
	require.NoError(t, err)
	require.True(t, est.Checkpointing, "auto: the plain step fits, but without a tenth to spare")
	est, err = PlanMemory(m, lc, MemoryPlan{Shape: s, Limit: plain.Total * 10 / 9})
	require.NoError(t, err)
	require.False(t, est.Checkpointing, "auto: the plain step fits with a tenth to spare")

	_, err = PlanMemory(m, lc, MemoryPlan{Shape: s, Checkpointing: CheckpointOff, Limit: between})
	require.ErrorContains(t, err, "would fit: checkpointing")
	require.ErrorContains(t, err, size(plain.Total)+" = weights", "the estimate is in the message")
	_, err = PlanMemory(m, lc, MemoryPlan{Shape: s, Checkpointing: CheckpointOn, Limit: ckpt.Total - 1})
	require.ErrorContains(t, err, "batch 4 with checkpointing")
	require.ErrorContains(t, err, "rank 8 with checkpointing")
	_, err = PlanMemory(m, lc, MemoryPlan{Shape: s, Limit: plain.Weights})
	require.ErrorContains(t, err, "nothing smaller fits")
	_, err = PlanMemory(m, lc, MemoryPlan{Shape: s, Limit: between, Extra: plain.Total})
	require.ErrorContains(t, err, "other", "memory the caller holds counts")

	e, err := NewEngine(m, a, 1)
	require.NoError(t, err)
	e.MemoryLimit = between
	b, labels := labelledBatch(8, 64, 1, randomTokens(rand.New(rand.NewPCG(1, 1)), 0, c.VocabSize), func(int32) int32 { return 7 })
	_, _, err = e.Accumulate(context.Background(), b, labels, 1)
	require.NoError(t, err)
	require.Len(t, e.graphs, 1)
	for _, gr := range e.graphs {
		require.Nil(t, gr.whole, "the engine checkpoints the shape that does not fit otherwise")
	}
	small := model.Batch{B: 1, T: 8, IDs: b.IDs[:8]}
	_, _, err = e.Accumulate(context.Background(), small, labels[56:64], 1)
	require.NoError(t, err)
	for k, gr := range e.graphs {
		require.Equal(t, k.b == 8, gr.whole == nil, "a small shape that fits keeps its activations")
	}

	xs := make([]Example, 16)
	for i := range xs {
		xs[i] = Example{Prompt: []int{1, 2, 3, 4, 5, 6, 7}, Answer: []int{9}}
	}
	cfg := DefaultConfig()
	cfg.MemoryLimit = plain.Weights
	_, err = New(m, a, xs, nil, cfg)
	require.ErrorContains(t, err, "train: training needs about")
	cfg.MemoryLimit = 0
	_, err = New(m, a, xs, nil, cfg)
	require.NoError(t, err, "a small model fits in this machine's memory")
}

// The estimate from a configuration (before a checkpoint is written or loaded) is the
// estimate of the loaded checkpoint, up to the norms (float32 copies in memory).
func TestEstimateFromConfigMatchesLoaded(t *testing.T) {
	c := model.Config{Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 32000, HiddenSize: 256,
		IntermediateSize: 704, NumLayers: 4, NumHeads: 4, NumKVHeads: 2, HeadDim: 64, RMSNormEps: 1e-5,
		RopeTheta: 10000, Rope: model.RopeScaling{Type: "default"}, MaxPositions: 2048, BOSTokenID: -1}
	dir := t.TempDir()
	_, err := model.WriteRandom(dir, c, "bfloat16", 3)
	require.NoError(t, err)
	m, err := model.Load(dir)
	require.NoError(t, err)
	defer m.Close()
	lc := lora.DefaultConfig()
	lc.Rank = 16
	for _, ckpt := range []bool{false, true} {
		s := StepShape{Batch: 2, Seq: 40}
		loaded := EstimateMemory(m, lc, s, ckpt)
		fromConfig, err := EstimateMemoryConfig(&c, "bfloat16", lc, s, ckpt)
		require.NoError(t, err)
		require.Equal(t, loaded.Activations, fromConfig.Activations)
		require.Equal(t, loaded.Adapter, fromConfig.Adapter)
		require.Equal(t, loaded.Embedding, fromConfig.Embedding)
		require.Less(t, loaded.Embedding, int64(c.VocabSize*c.HiddenSize*2), "only the rows read are resident")
		require.InEpsilon(t, float64(loaded.Weights), float64(fromConfig.Weights), 0.01)
	}
	_, err = EstimateMemoryConfig(&c, "int4", lc, StepShape{Batch: 1, Seq: 8}, false)
	require.Error(t, err)
}
