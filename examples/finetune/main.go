// Command finetune trains a LoRA adapter on (prompt, answer) pairs, the loss on the answer
// tokens only, and writes the adapter in PEFT's format with checkpoints and a metrics log.
//
//	go run ./examples/finetune -model testdata/stories260k -data testdata/finetune/train.jsonl \
//	    -val testdata/finetune/val.jsonl -out out/finetune
//
// The data files are JSONL: one {"prompt": ..., "answer": ..., "prefix": ...} object per line
// ("prefix", optional, is text the answer continues; with -chat the prompt is the user message of
// the model's chat template and the prefix starts the assistant turn). -out receives
// adapter_config.json and adapter_model.safetensors (loadable by PEFT), checkpoints/ and
// metrics.jsonl. -resume continues the run in -out from its last checkpoint.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

func main() { cli.Main(run) }

type options struct {
	ck             cli.Checkpoint
	data, val, out string
	eos, resume    bool
	targets        string
	lcfg           lora.Config
	tcfg           train.Config
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := cli.NewFlagSet("finetune", stderr)
	o := &options{lcfg: lora.DefaultConfig(), tcfg: train.DefaultConfig()}
	o.ck.Register(fs, cli.Flags{Model: "testdata/stories260k", Chat: true})
	fs.StringVar(&o.data, "data", "testdata/finetune/train.jsonl", "training rows (JSONL)")
	fs.StringVar(&o.val, "val", "", "validation rows (JSONL) for early stopping")
	fs.StringVar(&o.out, "out", "out/finetune", "output directory")
	fs.BoolVar(&o.eos, "eos", false, "append the end-of-sequence token to every answer")
	fs.BoolVar(&o.resume, "resume", false, "continue from the last checkpoint in -out")
	fs.IntVar(&o.tcfg.Epochs, "epochs", o.tcfg.Epochs, "epochs")
	fs.Float64Var(&o.tcfg.LR, "lr", o.tcfg.LR, "peak learning rate")
	fs.Float64Var(&o.tcfg.WarmupRatio, "warmup", o.tcfg.WarmupRatio, "warm-up fraction of the steps")
	fs.Var(&o.tcfg.Schedule, "schedule", "constant or linear (after warm-up)")
	fs.IntVar(&o.tcfg.BatchSize, "batch", o.tcfg.BatchSize, "examples per micro-batch")
	fs.IntVar(&o.tcfg.Accum, "accum", o.tcfg.Accum, "micro-batches per optimizer step")
	fs.IntVar(&o.tcfg.Patience, "patience", o.tcfg.Patience, "early-stopping patience in evaluations (0: off)")
	fs.IntVar(&o.tcfg.SaveEvery, "save-every", 0, "checkpoint every N steps (0: every epoch)")
	fs.BoolVar(&o.tcfg.PrefixSharing, "prefix-sharing", o.tcfg.PrefixSharing, "run the prompt prefixes that the rows of a micro-batch share once (same loss and gradients)")
	fs.Uint64Var(&o.tcfg.Seed, "seed", 0, "seed for initialisation, data order and dropout")
	fs.IntVar(&o.lcfg.Rank, "rank", o.lcfg.Rank, "LoRA rank")
	fs.Float64Var(&o.lcfg.Alpha, "alpha", o.lcfg.Alpha, "LoRA alpha")
	fs.Float64Var(&o.lcfg.Dropout, "dropout", o.lcfg.Dropout, "LoRA dropout")
	fs.BoolVar(&o.lcfg.RSLoRA, "rslora", false, "scale by alpha/sqrt(rank)")
	fs.StringVar(&o.targets, "targets", "q,k,v,o,gate,up,down", "projections to adapt")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.lcfg.Seed = o.tcfg.Seed
	o.lcfg.Targets = nil
	for _, name := range strings.Split(o.targets, ",") {
		p, err := model.ParseProj(strings.TrimSpace(name))
		if err != nil {
			fmt.Fprintf(stderr, "finetune: -targets: %v\n", err)
			return nil, err
		}
		o.lcfg.Targets = append(o.lcfg.Targets, p)
	}
	o.tcfg.Dir = o.out
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		return 2
	}
	o.tcfg.Progress = stderr
	return cli.Status(stderr, "finetune", finetune(ctx, o, stdout))
}

type row struct {
	Prompt string  `json:"prompt"`
	Prefix string  `json:"prefix"`
	Answer *string `json:"answer"`
}

// readRows reads a JSONL file of rows and encodes them.
func readRows(path string, tok *tokenize.Tokenizer, chat, eos bool) ([]train.Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var xs []train.TextExample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if r.Prompt == "" || r.Answer == nil || *r.Answer == "" {
			return nil, fmt.Errorf(`%s:%d: want non-empty "prompt" and "answer" fields`, path, line)
		}
		xs = append(xs, train.TextExample{Prompt: r.Prompt, Prefix: r.Prefix, Answer: *r.Answer})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(xs) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	out, err := train.Encode(tok, xs, tokenize.Chat{Enabled: chat}, eos)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func finetune(ctx context.Context, o *options, w io.Writer) error {
	s, err := o.ck.Load()
	if err != nil {
		return err
	}
	defer s.Close()
	m, tok := s.Model, s.Tokenizer
	trainSet, err := readRows(o.data, tok, o.ck.Chat, o.eos)
	if err != nil {
		return err
	}
	var valSet []train.Example
	if o.val != "" {
		if valSet, err = readRows(o.val, tok, o.ck.Chat, o.eos); err != nil {
			return err
		}
	}
	a, err := lora.New(m, o.lcfg)
	if err != nil {
		return err
	}
	var tr *train.Trainer
	if o.resume {
		tr, err = train.Resume(m, a, trainSet, valSet, o.tcfg)
	} else {
		tr, err = train.New(m, a, trainSet, valSet, o.tcfg)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "training %d rows (%d validation), %d steps per epoch, %d trainable parameters\n",
		len(trainSet), len(valSet), tr.StepsPerEpoch(), a.NumParams())
	res, err := tr.Run(ctx)
	if err != nil {
		if res != nil && res.Stopped == train.StoppedCancelled {
			fmt.Fprintf(w, "interrupted after %d steps (loss %.4f); -resume continues from the last checkpoint in %s\n",
				res.Steps, res.LastLoss, o.out)
		}
		return err
	}
	fmt.Fprintf(w, "done: %d steps, %d epochs (%s), loss %.4f -> %.4f, %s\n",
		res.Steps, res.Epochs, res.Stopped, res.FirstLoss, res.LastLoss, res.Elapsed.Round(1e6))
	if len(valSet) > 0 {
		probs, err := train.AnswerProbs(ctx, m, a, valSet, 16, 0)
		if err != nil {
			return err
		}
		lo, mean := 1.0, 0.0
		for _, p := range probs {
			lo, mean = min(lo, p), mean+p/float64(len(probs))
		}
		fmt.Fprintf(w, "best validation loss %.4f (epoch %d); held-out answer probability: mean %.4f, min %.4f\n",
			res.BestValLoss, res.BestEpoch, mean, lo)
	}
	fmt.Fprintf(w, "adapter and metrics in %s\n", o.out)
	return nil
}
