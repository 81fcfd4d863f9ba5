package model

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/valora-go/valora/internal/kern"
)

// WriteRandom writes a checkpoint that Load reads back with the shape, rope scaling, token ids
// and dtype it was written with, whose weights have the stated spread, that runs, and that a
// second call reuses instead of writing again; sharded, it has an index that names every
// tensor's shard.
func TestWriteRandomLoadsAsWritten(t *testing.T) {
	llama := Config{Architecture: "LlamaForCausalLM", ModelType: "llama", VocabSize: 300, HiddenSize: 64,
		IntermediateSize: 160, NumLayers: 3, NumHeads: 4, NumKVHeads: 2, HeadDim: 16, RMSNormEps: 1e-5,
		RopeTheta: 500000, Rope: RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192},
		MaxPositions: 131072, BOSTokenID: 1, EOSTokenIDs: []int{2, 3}}
	qwen := Config{Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", VocabSize: 256, HiddenSize: 32,
		IntermediateSize: 96, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 16, RMSNormEps: 1e-6,
		RopeTheta: 1e6, Rope: RopeScaling{Type: "default"}, MaxPositions: 40960, TieWordEmbeddings: true,
		QKNorm: true, BOSTokenID: -1, EOSTokenIDs: []int{5}}
	cases := []struct {
		name   string
		c      Config
		dtype  string
		want   kern.DType
		shards int64 // randomShardBytes for the case (0: the default)
	}{
		{"llama bf16", llama, "bfloat16", kern.BF16, 0},
		{"llama bf16 sharded", llama, "bfloat16", kern.BF16, 40000},
		{"qwen3 tied f16", qwen, "float16", kern.F16, 0},
		{"qwen3 f32", qwen, "float32", kern.F32, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.shards > 0 {
				defer func(old int64) { randomShardBytes = old }(randomShardBytes)
				randomShardBytes = tc.shards
			}
			dir := t.TempDir()
			reused, err := WriteRandom(dir, tc.c, tc.dtype, 7)
			require.NoError(t, err)
			require.False(t, reused)
			m := loadModel(t, dir)
			got := m.Config
			want := tc.c
			want.DType = tc.dtype
			require.Equal(t, want, got)
			require.Equal(t, tc.want, m.Layers[0].Proj[ProjGate].DType)
			require.Equal(t, tc.want, m.Embed.DType)

			var disk int64
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				st, err := e.Info()
				require.NoError(t, err)
				disk += st.Size()
			}
			need, err := RandomCheckpointBytes(tc.c, tc.dtype)
			require.NoError(t, err)
			require.LessOrEqual(t, disk, need, "RandomCheckpointBytes bounds the files")
			_, statErr := os.Stat(filepath.Join(dir, "model.safetensors.index.json"))
			require.Equal(t, tc.shards > 0, statErr == nil, "an index exactly when sharded")

			// uniform with standard deviation 0.02, centred; norms are ones
			w := make([]float32, tc.c.HiddenSize)
			var sum, sq float64
			n := 0
			for r := range m.Layers[1].Proj[ProjUp].Rows {
				m.Layers[1].Proj[ProjUp].RowF32(r, w)
				for _, v := range w {
					sum += float64(v)
					sq += float64(v) * float64(v)
					n++
					require.LessOrEqual(t, math.Abs(float64(v)), 0.0347)
				}
			}
			require.InDelta(t, 0, sum/float64(n), 0.002)
			require.InDelta(t, 0.02, math.Sqrt(sq/float64(n)), 0.001)
			require.Equal(t, float32(1), m.Layers[0].InputNorm[3])

			b, err := NewBatch([][]int{{1, 5, 9, 13}}, 0)
			require.NoError(t, err)
			out, err := m.Forward(context.Background(), b, Options{Rows: b.Last()})
			require.NoError(t, err)
			require.Len(t, out.Logits, tc.c.VocabSize)

			before, err := os.Stat(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			reused, err = WriteRandom(dir, tc.c, tc.dtype, 7)
			require.NoError(t, err)
			require.True(t, reused, "the same checkpoint is not written again")
			after, err := os.Stat(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			require.Equal(t, before.ModTime(), after.ModTime())
			reused, err = WriteRandom(dir, tc.c, tc.dtype, 8)
			require.NoError(t, err)
			require.False(t, reused, "another seed is another checkpoint")
		})
	}
}

// A checkpoint whose writing stopped part-way (no config.json, or a shard cut short) is written
// again, not reused.
func TestWriteRandomRewritesIncomplete(t *testing.T) {
	c := Config{ModelType: "llama", VocabSize: 128, HiddenSize: 32, IntermediateSize: 64, NumLayers: 1,
		NumHeads: 2, NumKVHeads: 2, HeadDim: 16, RMSNormEps: 1e-5, RopeTheta: 10000, Rope: RopeScaling{Type: "default"},
		MaxPositions: 64, BOSTokenID: -1}
	dir := t.TempDir()
	_, err := WriteRandom(dir, c, "bfloat16", 1)
	require.NoError(t, err)
	st := filepath.Join(dir, "model.safetensors")
	info, err := os.Stat(st)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(st, info.Size()-2))
	reused, err := WriteRandom(dir, c, "bfloat16", 1)
	require.NoError(t, err)
	require.False(t, reused)
	m, err := Load(dir)
	require.NoError(t, err)
	m.Close()
	require.NoError(t, os.Remove(filepath.Join(dir, "config.json")))
	reused, err = WriteRandom(dir, c, "bfloat16", 1)
	require.NoError(t, err)
	require.False(t, reused)

	_, err = WriteRandom(dir, c, "int8", 1)
	require.ErrorContains(t, err, "int8")
}
