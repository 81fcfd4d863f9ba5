package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
	if _, err := WriteRandom(dir, Qwen3_0_6BConfig(), "bfloat16", 1); err != nil {
		b.Fatal(err)
	}
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
