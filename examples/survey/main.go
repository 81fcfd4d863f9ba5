// Command survey profiles a model's values: it rates every variant of every description of a
// survey instrument (the built-in one by default) from the logits of the digits 1-6 and writes
// profile.json, profile.md and profile.png (the 20 values in their circular order) into -out.
//
//	go run ./examples/survey -model testdata/stories260k -out out/survey
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/survey/chart"
	"github.com/valora-go/valora/tokenize"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("survey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "testdata/stories260k", "checkpoint directory")
	tokDir := fs.String("tokenizer", "", "tokenizer directory (default: the model directory)")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter to profile (default: the base model)")
	instrument := fs.String("instrument", "builtin", `"builtin" or an instrument file (the authors' JSON, or valora's JSON/JSONL)`)
	splits := fs.String("split", "all", "descriptions to rate: all, or a comma list of train, validation, test")
	chat := fs.Bool("chat", false, "wrap prompts in the model's chat template")
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
	if *tokDir == "" {
		*tokDir = *modelDir
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "survey: -cpuprofile: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "survey: -cpuprofile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *label == "" {
		*label = filepath.Base(filepath.Clean(*modelDir))
		if *adapter != "" {
			*label += " + " + filepath.Base(filepath.Clean(*adapter))
		}
	}
	opts := survey.ProfileOptions{Splits: sp, Label: *label, Rate: survey.RateOptions{
		Mode: survey.Mode(*mode), Temperature: *temperature, Seed: *seed, BatchSize: 16 * *batch,
	}}
	if err := profile(ctx, stdout, *modelDir, *tokDir, *adapter, *instrument, *chat, *batch, *out, opts); err != nil {
		fmt.Fprintf(stderr, "survey: %v\n", err)
		return 1
	}
	return 0
}

func profile(ctx context.Context, w io.Writer, modelDir, tokDir, adapterDir, instrument string, chat bool, batch int, out string, opts survey.ProfileOptions) error {
	var in *survey.Instrument
	var err error
	if instrument == "builtin" {
		in, err = survey.Builtin()
	} else {
		in, err = survey.LoadFile(instrument)
	}
	if err != nil {
		return err
	}
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return err
	}
	m, err := model.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	sopts := eval.ScorerOptions{Chat: tokenize.Chat{Enabled: chat}, BatchSize: batch}
	if adapterDir != "" {
		a, err := lora.Load(adapterDir, m)
		if err != nil {
			return err
		}
		sopts.Adapter = a
	}
	scorer, err := eval.NewModelScorer(m, tok, sopts)
	if err != nil {
		return err
	}
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
	res, err := survey.Profile(ctx, scorer, in, opts)
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
