// Command score prints the probabilities a model gives to candidate continuations of a prompt,
// normalised over the candidates, as one JSON object in the order the candidates were given.
//
//	go run ./examples/score -model testdata/stories260k -prompt "Lily went to the park." \
//	    -prefix " She was" -candidates " happy, sad, ballerina"
//
// Candidates are split at commas and kept exactly (a leading space is part of the candidate).
// With -chat the prompt is the user message of the model's chat template, followed by the
// generation prompt (Qwen3: thinking off), and -prefix starts the assistant's answer.
// -adapter applies a PEFT LoRA adapter.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
)

func main() { cli.Main(run) }

type config struct {
	ck         cli.Checkpoint
	prompt     score.Prompt
	candidates []string
}

// run parses args, scores and writes the JSON object to stdout. It returns 0 on success, 2 for
// bad flags and 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("score", stderr)
	var ck cli.Checkpoint
	ck.Register(fs, cli.Flags{Adapter: "PEFT LoRA adapter directory", Chat: true})
	prompt := fs.String("prompt", "", "prompt text (or -prompt-file)")
	promptFile := fs.String("prompt-file", "", "file holding the prompt text (one trailing newline is dropped)")
	prefix := fs.String("prefix", "", "text the answer continues (with -chat: the start of the assistant turn)")
	candidates := fs.String("candidates", "", "comma-separated candidates, kept exactly (spaces included), required")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "score: %s\n", msg)
		fs.Usage()
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	case ck.Model == "":
		return usage("-model is required")
	case *prompt != "" && *promptFile != "":
		return usage("give -prompt or -prompt-file, not both")
	case *prompt == "" && *promptFile == "":
		return usage("-prompt or -prompt-file is required")
	case *candidates == "":
		return usage("-candidates is required")
	}
	cfg := config{ck: ck,
		prompt: score.Prompt{Text: *prompt, Prefix: *prefix}, candidates: strings.Split(*candidates, ",")}
	seen := map[string]bool{}
	for i, c := range cfg.candidates {
		if c == "" {
			return usage(fmt.Sprintf("-candidates: candidate %d is empty", i+1))
		}
		if seen[c] {
			return usage(fmt.Sprintf("-candidates: %q given twice", c))
		}
		seen[c] = true
	}
	if *promptFile != "" {
		raw, err := os.ReadFile(*promptFile)
		if err != nil {
			return cli.Status(stderr, "score", err)
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if text == "" {
			return cli.Status(stderr, "score", fmt.Errorf("prompt file %s is empty", *promptFile))
		}
		cfg.prompt.Text = text
	}
	return cli.Status(stderr, "score", scoreCandidates(ctx, stdout, cfg))
}

func scoreCandidates(ctx context.Context, w io.Writer, cfg config) error {
	s, err := cfg.ck.Open(score.Options{BatchSize: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	logp, err := s.Scorer.LogProbs(ctx, []score.Prompt{cfg.prompt}, [][]string{cfg.candidates})
	if err != nil {
		return err
	}
	return writeObject(w, cfg.candidates, score.Normalize(logp[0], 1))
}

// writeObject writes {"cand": p, ...} in the candidates' order, with a newline.
func writeObject(w io.Writer, keys []string, vals []float64) error {
	if len(keys) != len(vals) {
		return errors.New("internal error: keys and values differ in length")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, err := json.Marshal(k)
		if err != nil {
			return err
		}
		vj, err := json.Marshal(vals[i])
		if err != nil {
			return err
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteString("}\n")
	_, err := w.Write(b.Bytes())
	return err
}
