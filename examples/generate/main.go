// Command generate prints a continuation of a prompt: greedy by default, sampled with
// -temperature > 0.
//
//	go run ./examples/generate -model testdata/stories260k -prompt "Once upon a time" -n 48
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/model"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("generate", stderr)
	var ck cli.Checkpoint
	ck.Register(fs, cli.Flags{Model: "testdata/stories260k"})
	prompt := fs.String("prompt", "Once upon a time", "prompt text")
	n := fs.Int("n", 48, "tokens to generate")
	temperature := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	eos := fs.Bool("stop-at-eos", true, "stop at the end-of-sequence token")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return cli.Status(stderr, "generate", generate(ctx, stdout, ck, *prompt, *n, model.GenerateOptions{
		Temperature: *temperature, Seed: *seed, StopAtEOS: *eos,
	}))
}

func generate(ctx context.Context, w io.Writer, ck cli.Checkpoint, prompt string, n int, opt model.GenerateOptions) error {
	s, err := ck.Load()
	if err != nil {
		return err
	}
	defer s.Close()
	ids, err := s.Tokenizer.Encode(prompt, true)
	if err != nil {
		return err
	}
	out, err := s.Model.Generate(ctx, ids, n, opt)
	if err != nil {
		return err
	}
	text, err := s.Tokenizer.Decode(out[len(ids):], true)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, text)
	return err
}
