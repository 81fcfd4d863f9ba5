// Command generate prints a continuation of a prompt: greedy by default, sampled with
// -temperature > 0.
//
//	go run ./examples/generate -model testdata/stories260k -prompt "Once upon a time" -n 48
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "testdata/stories260k", "checkpoint directory (config.json + safetensors)")
	tokDir := fs.String("tokenizer", "", "tokenizer directory (default: the model directory)")
	prompt := fs.String("prompt", "Once upon a time", "prompt text")
	n := fs.Int("n", 48, "tokens to generate")
	temperature := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	eos := fs.Bool("stop-at-eos", true, "stop at the end-of-sequence token")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *tokDir == "" {
		*tokDir = *modelDir
	}
	if err := generate(ctx, stdout, *modelDir, *tokDir, *prompt, *n, model.GenerateOptions{
		Temperature: *temperature, Seed: *seed, StopAtEOS: *eos,
	}); err != nil {
		fmt.Fprintf(stderr, "generate: %v\n", err)
		return 1
	}
	return 0
}

func generate(ctx context.Context, w io.Writer, modelDir, tokDir, prompt string, n int, opt model.GenerateOptions) error {
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return err
	}
	m, err := model.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	ids, err := tok.Encode(prompt, true)
	if err != nil {
		return err
	}
	out, err := m.Generate(ctx, ids, n, opt)
	if err != nil {
		return err
	}
	text, err := tok.Decode(out[len(ids):], true)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, text)
	return err
}
