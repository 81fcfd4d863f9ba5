// Command survey profiles a model's values: it rates every variant of every description of a
// survey instrument (the built-in one by default) from the logits of the digits 1-6 and writes
// profile.json, profile.md and profile.png (the 20 values in their circular order) into -out.
//
//	go run ./examples/survey -model testdata/stories260k -out out/survey
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/survey/chart"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("survey", stderr)
	var ck cli.Checkpoint
	ck.Register(fs, cli.Flags{Model: "testdata/stories260k", Adapter: "PEFT LoRA adapter to profile (default: the base model)", Chat: true})
	instrument := fs.String("instrument", "builtin", `"builtin" or an instrument file (the authors' JSON, or valora's JSON/JSONL)`)
	splits := fs.String("split", "all", "descriptions to rate: all, or a comma list of train, validation, test")
	mode := fs.String("mode", "logit", "read-out: logit (digit distribution) or sample")
	temperature := fs.Float64("temperature", survey.DefaultTemperature, "sampling temperature (-mode sample)")
	seed := fs.Int64("seed", 0, "sampling seed (-mode sample)")
	batch := fs.Int("batch", 16, "prompts per forward pass")
	out := fs.String("out", "out/survey", "output directory")
	label := fs.String("label", "", "name of the model in the report (default: the model directory)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var sp []survey.Split
	if *splits != "all" {
		for _, s := range strings.Split(*splits, ",") {
			switch v := survey.Split(strings.TrimSpace(s)); v {
			case survey.SplitTrain, survey.SplitValidation, survey.SplitTest:
				sp = append(sp, v)
			default:
				fmt.Fprintf(stderr, "survey: -split: unknown split %q (want train, validation, test or all)\n", s)
				return 2
			}
		}
	}
	if *mode != string(survey.ModeLogit) && *mode != string(survey.ModeSampled) {
		fmt.Fprintf(stderr, "survey: -mode: %q, want logit or sample\n", *mode)
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return cli.Status(stderr, "survey", fmt.Errorf("-cpuprofile: %w", err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return cli.Status(stderr, "survey", fmt.Errorf("-cpuprofile: %w", err))
		}
		defer pprof.StopCPUProfile()
	}
	if *label == "" {
		*label = filepath.Base(filepath.Clean(ck.Model))
		if ck.Adapter != "" {
			*label += " + " + filepath.Base(filepath.Clean(ck.Adapter))
		}
	}
	opts := survey.ProfileOptions{Splits: sp, Label: *label, Rate: survey.RateOptions{
		Mode: survey.Mode(*mode), Temperature: *temperature, Seed: *seed, BatchSize: 16 * *batch,
	}}
	return cli.Status(stderr, "survey", profile(ctx, stdout, ck, *instrument, *batch, *out, opts))
}

func profile(ctx context.Context, w io.Writer, ck cli.Checkpoint, instrument string, batch int, out string, opts survey.ProfileOptions) error {
	in, err := cli.LoadInstrument(instrument)
	if err != nil {
		return err
	}
	s, err := ck.Open(score.Options{BatchSize: batch})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	last := start
	opts.Rate.Progress = func(done, total int) {
		if now := time.Now(); now.Sub(last) >= 5*time.Second || done == total {
			last = now
			el := now.Sub(start).Seconds()
			rate := float64(done) / el
			fmt.Fprintf(w, "rated %d/%d prompts, %.0f prompts/s, ETA %s\n", done, total, rate,
				time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	res, err := survey.Profile(ctx, s.Scorer, in, opts)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	for name, write := range map[string]func(io.Writer) error{
		"profile.json": res.WriteJSON, "profile.md": res.WriteMarkdown, "profile.png": chart.ProfilesPNG(res),
	} {
		if err := survey.WriteFileAtomic(filepath.Join(out, name), write); err != nil {
			return err
		}
	}
	n := len(res.Ratings)
	fmt.Fprintf(w, "%s: %d prompts (%d descriptions) in %s, %.1f prompts/s\n", in.Name, n, len(res.Descriptions),
		elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	for _, v := range res.Values {
		fmt.Fprintf(w, "  %-28s majority %.2f  expected %.2f\n", v.Name, v.Majority, v.Expected)
	}
	fmt.Fprintf(w, "wrote profile.json, profile.md, profile.png to %s\n", out)
	return nil
}
