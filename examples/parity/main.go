// Command parity checks valora against reference outputs dumped from Hugging Face
// transformers (+ PEFT): it reproduces every golden it finds in a fixture directory and prints
// one line per check with the max abs error and the tolerance. It exits 1 if any check fails.
//
//	go run ./examples/parity -fixture testdata/llama-tiny
//
// A fixture directory holds model/ (config.json + safetensors) and goldens.safetensors with
// input_ids [B,T] and any of: logits, hidden_states.N, padded.attention_mask +
// padded.position_ids + padded.logits. Prefixed sets (p0.input_ids, p0.logits, ...) are
// checked too. If DIR has no model/ subdirectory, DIR itself is the model and -goldens names
// the goldens file. The README shows how to dump such a fixture from your own checkpoint.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/valora-go/valora/model"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fixture := fs.String("fixture", "", "fixture directory (model/ + goldens.safetensors)")
	goldensPath := fs.String("goldens", "", "goldens file (default FIXTURE/goldens.safetensors)")
	tol := fs.Float64("tol", 1e-4, "max abs error allowed on logits and hidden states")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *fixture == "" {
		fmt.Fprintln(stderr, "parity: -fixture is required")
		return 2
	}
	c := &checker{out: stdout}
	if err := c.run(*fixture, *goldensPath, *tol); err != nil {
		fmt.Fprintf(stderr, "parity: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d checks, %d failed\n", c.n, c.failed)
	if c.failed > 0 || c.n == 0 {
		return 1
	}
	return 0
}

type checker struct {
	out       io.Writer
	n, failed int
}

// compare reports the max abs difference between got and want over the indices keep accepts.
func (c *checker) compare(name string, got, want []float32, tol float64, keep func(int) bool) {
	c.n++
	status := "ok  "
	var worst float64
	if len(got) != len(want) {
		c.failed++
		fmt.Fprintf(c.out, "FAIL %-28s length %d, reference %d\n", name, len(got), len(want))
		return
	}
	for i := range got {
		if keep != nil && !keep(i) {
			continue
		}
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = max(worst, d)
	}
	if worst > tol {
		status = "FAIL"
		c.failed++
	}
	fmt.Fprintf(c.out, "%s %-28s max abs err %.3e  tol %.0e\n", status, name, worst, tol)
}

func (c *checker) run(fixture, goldensPath string, tol float64) error {
	modelDir := filepath.Join(fixture, "model")
	if _, err := os.Stat(filepath.Join(modelDir, "config.json")); err != nil {
		modelDir = fixture
	}
	if goldensPath == "" {
		goldensPath = filepath.Join(fixture, "goldens.safetensors")
	}
	m, err := model.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	g, err := model.ReadTensors(goldensPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var prefixes []string
	for k := range g {
		if p, ok := strings.CutSuffix(k, "input_ids"); ok {
			prefixes = append(prefixes, p)
		}
	}
	sort.Strings(prefixes)
	if len(prefixes) == 0 {
		return fmt.Errorf("%s: no input_ids tensor", goldensPath)
	}
	for _, p := range prefixes {
		b, err := batch(g[p+"input_ids"], p+"input_ids")
		if err != nil {
			return err
		}
		out, err := m.Forward(ctx, b, model.Options{Hidden: true})
		if err != nil {
			return err
		}
		if ref, ok := g[p+"logits"]; ok {
			c.compare(p+"logits", out.Logits, ref.F32, tol, nil)
		}
		for i := range out.Hidden {
			if ref, ok := g[fmt.Sprintf("%shidden_states.%d", p, i)]; ok {
				c.compare(fmt.Sprintf("%shidden_states.%d", p, i), out.Hidden[i], ref.F32, tol, nil)
			}
		}
		mask, ok := g[p+"padded.attention_mask"]
		if !ok {
			continue
		}
		pos := g[p+"padded.position_ids"]
		if len(mask.I64) != len(b.IDs) || len(pos.I64) != len(b.IDs) {
			return fmt.Errorf("%s: padded.attention_mask / padded.position_ids do not match input_ids %v", goldensPath, g[p+"input_ids"].Shape)
		}
		b.Mask = make([]float32, len(b.IDs))
		b.Pos = make([]int32, len(b.IDs))
		for i := range b.IDs {
			b.Mask[i] = float32(mask.I64[i])
			b.Pos[i] = int32(pos.I64[i])
		}
		pout, err := m.Forward(ctx, b, model.Options{})
		if err != nil {
			return err
		}
		v := m.Config.VocabSize
		c.compare(p+"padded.logits", pout.Logits, g[p+"padded.logits"].F32, tol, func(i int) bool { return b.Mask[i/v] != 0 })
	}
	return nil
}

func batch(ids model.Tensor, name string) (model.Batch, error) {
	if len(ids.Shape) != 2 || ids.I64 == nil {
		return model.Batch{}, fmt.Errorf("%s: want an integer [B,T] tensor, got shape %v", name, ids.Shape)
	}
	b := model.Batch{B: ids.Shape[0], T: ids.Shape[1], IDs: make([]int32, len(ids.I64))}
	for i, v := range ids.I64 {
		b.IDs[i] = int32(v)
	}
	return b, nil
}
