package model

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valora-go/valora/internal/stfile"
)

// writeBF16Checkpoint writes a bfloat16 checkpoint of shape c (Qwen3, tied embeddings) into
// dir, with small deterministic weights.
func writeBF16Checkpoint(tb testing.TB, dir string, c Config) {
	tb.Helper()
	var entries []stfile.Entry
	seed := uint32(1)
	fill := func(n int) []uint16 {
		v := make([]uint16, n)
		for i := range v {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			v[i] = 0x3c00 | uint16(seed&0x7f) | uint16(seed>>31)<<15 // ±(0.0078..0.0156)
		}
		return v
	}
	ones := func(n int) []uint16 {
		v := make([]uint16, n)
		for i := range v {
			v[i] = 0x3f80
		}
		return v
	}
	for _, s := range c.expected() {
		e := stfile.Entry{Name: s.name, Shape: s.shape}
		if len(s.shape) == 1 {
			e.BF16 = ones(s.shape[0])
		} else {
			e.BF16 = fill(s.shape[0] * s.shape[1])
		}
		entries = append(entries, e)
	}
	if err := stfile.Write(filepath.Join(dir, "model.safetensors"), entries, map[string]string{"format": "pt"}); err != nil {
		tb.Fatal(err)
	}
	cfg := map[string]any{"architectures": []string{"Qwen3ForCausalLM"}, "model_type": "qwen3", "vocab_size": c.VocabSize,
		"hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize, "num_hidden_layers": c.NumLayers,
		"num_attention_heads": c.NumHeads, "num_key_value_heads": c.NumKVHeads, "head_dim": c.HeadDim,
		"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": true, "torch_dtype": "bfloat16"}
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func rss(tb testing.TB) float64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skip("no /proc/self/statm")
	}
	pages, _ := strconv.ParseFloat(strings.Fields(string(raw))[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// BenchmarkLoadQwen3_06B_BF16 loads a 1.2 GB bfloat16 checkpoint of Qwen3-0.6B's shape and
// reports the load time and the resident memory after loading (the weights are mapped, not
// read) and after one forward pass has touched every weight (about the file's size: the
// weights stay bfloat16, held once).
//
//	go test ./model -run '^$' -bench LoadQwen3 -benchtime 1x
func BenchmarkLoadQwen3_06B_BF16(b *testing.B) {
	dir := b.TempDir()
	writeBF16Checkpoint(b, dir, Qwen3_0_6BConfig())
	st, _ := os.Stat(filepath.Join(dir, "model.safetensors"))
	runtime.GC()
	before := rss(b)
	b.ResetTimer()
	var m *Model
	var loadTime time.Duration
	for i := 0; i < b.N; i++ {
		if m != nil {
			m.Close()
		}
		t0 := time.Now()
		var err error
		if m, err = Load(dir); err != nil {
			b.Fatal(err)
		}
		loadTime = time.Since(t0)
	}
	b.StopTimer()
	afterLoad := rss(b)
	batch, _ := NewBatch([][]int{{1, 2, 3, 4, 5, 6, 7, 8}}, 0)
	if _, err := m.Forward(context.Background(), batch, Options{Rows: batch.Last()}); err != nil {
		b.Fatal(err)
	}
	afterForward := rss(b)
	m.Close()
	b.ReportMetric(float64(loadTime.Microseconds())/1000, "load-ms")
	b.ReportMetric(afterLoad-before, "MiB-rss-after-load")
	b.ReportMetric(afterForward-before, "MiB-rss-after-forward")
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB-file")
	fmt.Fprintf(os.Stderr, "checkpoint %.0f MiB: load %s, RSS +%.0f MiB after load, +%.0f MiB after a forward pass\n",
		float64(st.Size())/(1<<20), loadTime.Round(time.Millisecond), afterLoad-before, afterForward-before)
}
