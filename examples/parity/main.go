// Command parity checks valora against reference outputs dumped from Hugging Face
// transformers (+ PEFT): it reproduces every golden it finds in a fixture directory and prints
// one line per check with the max abs error and the tolerance. It exits 1 if any check fails.
//
//	go run ./examples/parity -fixture testdata/llama-tiny
//
// A fixture directory holds model/ (config.json + safetensors) and goldens.safetensors with
// input_ids [B,T] and any of: logits, hidden_states.N, padded.attention_mask +
// padded.position_ids + padded.logits. Prefixed sets (p0.input_ids, p0.logits, ...) are
// checked too. With adapter/ (a PEFT LoRA adapter) it also checks lora.logits; with
// train.labels + train.loss0 and lora_grads.safetensors, the loss and every LoRA gradient
// (relative error); with lora_after_3_adamw_steps.safetensors and meta.json, the weights after
// that many AdamW steps on the same batch and merged.logits (base merged with those weights).
// If DIR has no model/ subdirectory, DIR itself is the model and -goldens names the goldens
// file. The README shows how to dump such a fixture from your own checkpoint.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/train"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("parity", stderr)
	fixture := fs.String("fixture", "", "fixture directory (model/ + goldens.safetensors)")
	goldensPath := fs.String("goldens", "", "goldens file (default FIXTURE/goldens.safetensors)")
	tol := fs.Float64("tol", 1e-4, "max abs error allowed on logits and hidden states")
	gradTol := fs.Float64("grad-tol", 1e-4, "relative error allowed on each LoRA gradient tensor")
	adamTol := fs.Float64("adamw-tol", 1e-5, "max abs error allowed on weights after the AdamW steps")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *fixture == "" {
		fmt.Fprintln(stderr, "parity: -fixture is required")
		return 2
	}
	c := &checker{out: stdout}
	if err := c.run(*fixture, *goldensPath, tols{*tol, *gradTol, *adamTol}); err != nil {
		fmt.Fprintf(stderr, "parity: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d checks, %d failed\n", c.n, c.failed)
	if c.failed > 0 || c.n == 0 {
		return 1
	}
	return 0
}

type tols struct{ logits, grad, adamw float64 }

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

// compareRel reports |got - want| / |want| (Euclidean norms over the tensor).
func (c *checker) compareRel(name string, got, want []float32, tol float64) {
	c.n++
	if len(got) != len(want) {
		c.failed++
		fmt.Fprintf(c.out, "FAIL %-28s length %d, reference %d\n", name, len(got), len(want))
		return
	}
	var num, den float64
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	rel := math.Sqrt(num / den)
	status := "ok  "
	if !(rel <= tol) {
		status = "FAIL"
		c.failed++
	}
	fmt.Fprintf(c.out, "%s %-28s rel err     %.3e  tol %.0e\n", status, name, rel, tol)
}

func (c *checker) run(fixture, goldensPath string, t tols) error {
	tol := t.logits
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
	adapterDir := filepath.Join(fixture, "adapter")
	if _, err := os.Stat(filepath.Join(adapterDir, lora.ConfigFile)); err != nil {
		return nil
	}
	return c.runLoRA(m, fixture, adapterDir, g, t)
}

// runLoRA checks the adapter's logits, the gradients of the answer-only loss, the AdamW
// trajectory and the merged model.
func (c *checker) runLoRA(m *model.Model, fixture, adapterDir string, g map[string]model.Tensor, t tols) error {
	ctx := context.Background()
	b, err := batch(g["input_ids"], "input_ids")
	if err != nil {
		return err
	}
	a, err := lora.Load(adapterDir, m)
	if err != nil {
		return err
	}
	if ref, ok := g["lora.logits"]; ok {
		out, err := m.Forward(ctx, b, model.Options{Adapter: a})
		if err != nil {
			return err
		}
		c.compare("lora.logits", out.Logits, ref.F32, t.logits, nil)
	}
	labelsT, ok := g["train.labels"]
	if !ok {
		return nil
	}
	labels := make([]int32, len(labelsT.I64))
	for i, v := range labelsT.I64 {
		labels[i] = int32(v)
	}
	e, err := train.NewEngine(m, a, 0)
	if err != nil {
		return err
	}
	sum, count, err := e.Accumulate(ctx, b, labels, 1)
	if err != nil {
		return err
	}
	if ref, ok := g["train.loss0"]; ok {
		c.compare("train.loss0", []float32{float32(sum / float64(count))}, ref.F32, t.logits, nil)
	}
	if grads, err := model.ReadTensors(filepath.Join(fixture, "lora_grads.safetensors")); err == nil {
		e.ZeroGrad()
		if _, _, err := e.Accumulate(ctx, b, labels, 1/float32(count)); err != nil {
			return err
		}
		a.Each(func(l int, p model.Proj, _ *lora.Pair) {
			dA, dB := e.Grad(l, p)
			for _, ab := range []struct {
				s string
				g []float32
			}{{"A", dA}, {"B", dB}} {
				key := fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", l, p.Module(), ab.s)
				c.compareRel(fmt.Sprintf("grad %d.%s.%s", l, p, ab.s), ab.g, grads[key].F32, t.grad)
			}
		})
	}
	after, err := model.ReadTensors(filepath.Join(fixture, "lora_after_3_adamw_steps.safetensors"))
	if err != nil {
		return nil
	}
	meta, err := readMeta(filepath.Join(fixture, "meta.json"))
	if err != nil {
		return err
	}
	opt := train.AdamW{Beta1: meta.AdamW.Betas[0], Beta2: meta.AdamW.Betas[1], Eps: meta.AdamW.Eps, WeightDecay: meta.AdamW.WeightDecay}
	for step := 0; step < meta.AdamW.Steps; step++ {
		e.ZeroGrad()
		if _, _, err := e.Accumulate(ctx, b, labels, 1/float32(count)); err != nil {
			return err
		}
		if err := e.Step(opt, meta.AdamW.LR); err != nil {
			return err
		}
	}
	var got, want []float32
	a.Each(func(l int, p model.Proj, pr *lora.Pair) {
		for _, ab := range []struct {
			s string
			w []float32
		}{{"A", pr.A}, {"B", pr.B}} {
			key := fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", l, p.Module(), ab.s)
			got = append(got, ab.w...)
			want = append(want, after[key].F32...)
		}
	})
	c.compare(fmt.Sprintf("adamw weights after %d steps", meta.AdamW.Steps), got, want, t.adamw, nil)
	if ref, ok := g["merged.logits"]; ok {
		if err := a.Merge(m); err != nil {
			return err
		}
		out, err := m.Forward(ctx, b, model.Options{})
		if err != nil {
			return err
		}
		c.compare("merged.logits", out.Logits, ref.F32, t.logits, nil)
		if err := a.Unmerge(m); err != nil {
			return err
		}
	}
	return nil
}

type meta struct {
	AdamW struct {
		LR          float64    `json:"lr"`
		Betas       [2]float64 `json:"betas"`
		Eps         float64    `json:"eps"`
		WeightDecay float64    `json:"weight_decay"`
		Steps       int        `json:"steps"`
	} `json:"adamw"`
}

func readMeta(path string) (*meta, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.AdamW.Steps <= 0 {
		return nil, fmt.Errorf("%s: adamw.steps missing", path)
	}
	return &m, nil
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
