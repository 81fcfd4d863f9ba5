package model

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const tol = 1e-4

func goldens(t *testing.T, path string) map[string]Tensor {
	t.Helper()
	g, err := ReadTensors(path)
	require.NoError(t, err)
	return g
}

// idsBatch turns a [B,T] int64 golden into an unpadded batch.
func idsBatch(t *testing.T, ids Tensor) Batch {
	t.Helper()
	require.Len(t, ids.Shape, 2)
	b := Batch{B: ids.Shape[0], T: ids.Shape[1], IDs: make([]int32, len(ids.I64))}
	for i, v := range ids.I64 {
		b.IDs[i] = int32(v)
	}
	return b
}

func maxAbsDiff(a, b []float32, keep func(i int) bool) float64 {
	var worst float64
	for i := range a {
		if keep != nil && !keep(i) {
			continue
		}
		worst = max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	return worst
}

func TestParityWithTransformers(t *testing.T) {
	for _, fx := range []string{"llama-tiny", "qwen3-tiny", "qwen3-sharded-rslora"} {
		t.Run(fx, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", fx)
			m := loadModel(t, filepath.Join(dir, "model"))
			g := goldens(t, filepath.Join(dir, "goldens.safetensors"))
			b := idsBatch(t, g["input_ids"])
			out, err := m.Forward(context.Background(), b, Options{Hidden: true})
			require.NoError(t, err)
			ref := g["logits"]
			require.Equal(t, len(ref.F32), len(out.Logits))
			d := maxAbsDiff(out.Logits, ref.F32, nil)
			t.Logf("logits max abs err %.3g", d)
			require.LessOrEqual(t, d, tol)
			for i := 0; ; i++ {
				hs, ok := g[fmt.Sprintf("hidden_states.%d", i)]
				if !ok {
					break
				}
				require.Less(t, i, len(out.Hidden))
				d := maxAbsDiff(out.Hidden[i], hs.F32, nil)
				t.Logf("hidden_states.%d max abs err %.3g", i, d)
				require.LessOrEqual(t, d, tol, "hidden_states.%d", i)
			}

			mask, ok := g["padded.attention_mask"]
			if !ok {
				return
			}
			pb := b
			pb.Mask = make([]float32, len(mask.I64))
			pb.Pos = make([]int32, len(mask.I64))
			for i, v := range mask.I64 {
				pb.Mask[i] = float32(v)
				pb.Pos[i] = int32(g["padded.position_ids"].I64[i])
			}
			pout, err := m.Forward(context.Background(), pb, Options{})
			require.NoError(t, err)
			v := m.Config.VocabSize
			d = maxAbsDiff(pout.Logits, g["padded.logits"].F32, func(i int) bool { return pb.Mask[i/v] == 1 })
			t.Logf("padded.logits max abs err %.3g", d)
			require.LessOrEqual(t, d, tol)

			// Only the positions asked for: the same numbers as the full pass.
			last := pb.Last()
			sel, err := m.Forward(context.Background(), pb, Options{Rows: last})
			require.NoError(t, err)
			for i, r := range last {
				require.InDeltaSlice(t, pout.Row(r), sel.Row(i), 1e-6)
			}
		})
	}
}

type storiesGoldens struct {
	Prompts []struct {
		Text     string `json:"text"`
		IDs      []int  `json:"ids"`
		Greedy48 []int  `json:"greedy48"`
	} `json:"prompts"`
	GreedyFromBOS struct {
		HF []int `json:"hf"`
	} `json:"greedy_from_bos"`
}

// loadModel loads the checkpoint in dir, closed when the test ends.
func loadModel(t testing.TB, dir string) *Model {
	t.Helper()
	m, err := Load(dir)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func loadStoriesGoldens(t *testing.T) storiesGoldens {
	t.Helper()
	raw, err := os.ReadFile("../testdata/stories260k_goldens.json")
	require.NoError(t, err)
	var g storiesGoldens
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Prompts)
	return g
}

func TestStories260kLogitsAndGreedy(t *testing.T) {
	m := loadModel(t, "../testdata/stories260k")
	g := goldens(t, "../testdata/stories260k_goldens.safetensors")
	sg := loadStoriesGoldens(t)
	for i, p := range sg.Prompts {
		ids := g[fmt.Sprintf("p%d.input_ids", i)]
		b := idsBatch(t, ids)
		out, err := m.Forward(context.Background(), b, Options{})
		require.NoError(t, err)
		d := maxAbsDiff(out.Logits, g[fmt.Sprintf("p%d.logits", i)].F32, nil)
		t.Logf("p%d logits max abs err %.3g", i, d)
		require.LessOrEqual(t, d, tol)

		got, err := m.Generate(context.Background(), p.IDs, len(p.Greedy48)-len(p.IDs), GenerateOptions{})
		require.NoError(t, err)
		require.Equal(t, p.Greedy48, got, "greedy continuation of %q", p.Text)
	}
}

func TestBatchesOfDifferentLengths(t *testing.T) {
	m := loadModel(t, "../testdata/stories260k")
	sg := loadStoriesGoldens(t)
	var rows [][]int
	for _, p := range sg.Prompts {
		rows = append(rows, p.IDs)
	}
	b, err := NewBatch(rows, 0)
	require.NoError(t, err)
	out, err := m.Forward(context.Background(), b, Options{Rows: b.Last()})
	require.NoError(t, err)
	for i, r := range rows {
		single, err := NewBatch([][]int{r}, 0)
		require.NoError(t, err)
		one, err := m.Forward(context.Background(), single, Options{Rows: single.Last()})
		require.NoError(t, err)
		require.InDeltaSlice(t, one.Row(0), out.Row(i), 1e-4, "row %d", i)
	}
}

func TestForwardRejectsBadBatches(t *testing.T) {
	m := loadModel(t, "../testdata/llama-tiny/model")
	ctx := context.Background()
	cases := []struct {
		name string
		b    Batch
		opt  Options
		want string
	}{
		{"id out of vocabulary", Batch{B: 1, T: 2, IDs: []int32{1, 512}}, Options{}, "outside the vocabulary"},
		{"negative id", Batch{B: 1, T: 1, IDs: []int32{-1}}, Options{}, "outside the vocabulary"},
		{"short ids", Batch{B: 2, T: 2, IDs: []int32{1, 2, 3}}, Options{}, "3 ids for shape 2x2"},
		{"short mask", Batch{B: 1, T: 2, IDs: []int32{1, 2}, Mask: []float32{1}}, Options{}, "mask has 1 entries"},
		{"row out of range", Batch{B: 1, T: 2, IDs: []int32{1, 2}}, Options{Rows: []int{2}}, "logits row 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Forward(ctx, c.b, c.opt)
			require.ErrorContains(t, err, c.want)
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := m.Forward(cctx, Batch{B: 1, T: 1, IDs: []int32{1}}, Options{})
	require.ErrorIs(t, err, context.Canceled)
}
