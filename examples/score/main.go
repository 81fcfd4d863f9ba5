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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/valora-go/valora/eval"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	modelDir, tokDir, adapterDir string
	prompt                       eval.Prompt
	chat                         bool
	candidates                   []string
}

// run parses args, scores and writes the JSON object to stdout. It returns 0 on success, 2 for
// bad flags and 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "checkpoint directory (config.json + safetensors), required")
	tokDir := fs.String("tokenizer", "", "tokenizer directory (default: the model directory)")
	prompt := fs.String("prompt", "", "prompt text (or -prompt-file)")
	promptFile := fs.String("prompt-file", "", "file holding the prompt text (one trailing newline is dropped)")
	prefix := fs.String("prefix", "", "text the answer continues (with -chat: the start of the assistant turn)")
	chat := fs.Bool("chat", false, "wrap the prompt in the model's chat template with the generation prompt")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter directory")
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
	case *modelDir == "":
		return usage("-model is required")
	case *prompt != "" && *promptFile != "":
		return usage("give -prompt or -prompt-file, not both")
	case *prompt == "" && *promptFile == "":
		return usage("-prompt or -prompt-file is required")
	case *candidates == "":
		return usage("-candidates is required")
	}
	cfg := config{modelDir: *modelDir, tokDir: *tokDir, adapterDir: *adapter, chat: *chat,
		prompt: eval.Prompt{Text: *prompt, Prefix: *prefix}, candidates: strings.Split(*candidates, ",")}
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
	if cfg.tokDir == "" {
		cfg.tokDir = cfg.modelDir
	}
	if *promptFile != "" {
		raw, err := os.ReadFile(*promptFile)
		if err != nil {
			fmt.Fprintf(stderr, "score: %v\n", err)
			return 1
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if text == "" {
			fmt.Fprintf(stderr, "score: prompt file %s is empty\n", *promptFile)
			return 1
		}
		cfg.prompt.Text = text
	}
	if err := score(ctx, stdout, cfg); err != nil {
		fmt.Fprintf(stderr, "score: %v\n", err)
		return 1
	}
	return 0
}

func score(ctx context.Context, w io.Writer, cfg config) error {
	chat := eval.ChatOff
	if cfg.chat {
		chat = eval.ChatOn
	}
	s, err := eval.Open(cfg.modelDir, eval.OpenOptions{Tokenizer: cfg.tokDir, Adapter: cfg.adapterDir, Chat: chat,
		Scorer: eval.ScorerOptions{BatchSize: 1}})
	if err != nil {
		return err
	}
	defer s.Close()
	logp, err := s.Scorer.LogProbs(ctx, []eval.Prompt{cfg.prompt}, [][]string{cfg.candidates})
	if err != nil {
		return err
	}
	return writeObject(w, cfg.candidates, eval.Normalize(logp[0], 1))
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
