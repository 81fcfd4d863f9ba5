// Command align runs survey-to-behavior value alignment end to end, the main job of valora:
//
//  1. profile the model on the survey (train and validation descriptions): its baseline
//     majority rating of every description;
//  2. build the intervention: target values answered "1" (down) or "6" (up), every other
//     description at the model's own baseline; and the control set (baseline everywhere);
//  3. train a tuned and a control LoRA adapter on them, the same way;
//  4. measure in domain (held-out test descriptions, all variants: target rating drop, other
//     values' fluctuation; the base model, the control and the tuned adapter side by side),
//     with the sampled read-out over seeds (mean ± SD) and the logit read-outs beside it;
//  5. out of domain: MACHIAVELLI-style text games (power, disutility and ethical violations of
//     an agent choosing by its logits or sampling), and the AITA probability gain per target
//     value when -aita names the authors' posts;
//  6. write one report, out/align/report.md and report.json, with every setting.
//
// Settings come from a preset, flags override them. -preset demo (the default) is a budget
// for the embedded toy model (stories260k in testdata/); -preset paper is the published
// protocol (../shared/docs/protocol.md) and reads the authors' instrument:
//
//	go run ./examples/align
//	go run ./examples/align -preset paper -print-config
//	go run ./examples/align -preset paper -model DIR -chat -instrument kvs_data_new.json -aita posts.jsonl
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/train"
)

func main() { cli.Main(run) }

type options struct {
	preset           survey.Preset
	games            string // game_data directory of the games step ("" = built-in suite)
	ck               cli.Checkpoint
	out, aita        string
	printConfig      bool
	batch, aitaLimit int
	subset           [3]int // descriptions per value and split, tasks, templates (0: whole instrument)
	seed             uint64
	instrumentSet    bool
	lcfg             lora.Config
	tcfg             train.Config
}

// parse reads the command line. The flags that override a preset setting are bound to the
// preset's fields, its values their defaults, so the arguments are parsed twice: first to
// learn -preset (the bindings go to a blank preset), then over that preset.
func parse(args []string, stderr io.Writer) (*options, error) {
	var first options
	var blank survey.Preset
	fs, presetName, _, _, _ := bindFlags(&first, &blank, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	p, err := survey.PresetByName(*presetName)
	if err != nil {
		fmt.Fprintf(stderr, "align: %v\n", err)
		return nil, flag.ErrHelp
	}
	preset := p
	o := &options{}
	fs, _, subset, accum, prefixSharing := bindFlags(o, &p, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "instrument":
			o.instrumentSet = true
		case "train-batch": // the same examples per optimizer step
			p.Batch = preset.Batch / max(1, preset.MicroBatch) * p.MicroBatch
		case "games-sampling":
			if p.GamesSampling == "sample" {
				p.GamesSampling = survey.GamesSample
			}
		case "subset":
			var s [3]int
			if _, err := fmt.Sscanf(*subset, "%d,%d,%d", &s[0], &s[1], &s[2]); err != nil || s[0] <= 0 || s[1] < 0 || s[2] < 0 {
				bad = fmt.Errorf("-subset %q: want PER,TASKS,TEMPLATES, e.g. 1,1,3", *subset)
			}
			o.subset = s
		}
	})
	if *accum > 0 {
		p.Batch = p.MicroBatch * *accum
	}
	if p.Variants <= 0 {
		bad = fmt.Errorf("-variants must be positive")
	}
	if bad == nil {
		bad = p.Validate()
	}
	if bad != nil {
		fmt.Fprintf(stderr, "align: %v\n", bad)
		return nil, flag.ErrHelp
	}
	o.preset = p
	if o.lcfg, err = p.LoRA(o.seed); err != nil {
		return nil, err
	}
	o.tcfg = p.Train(o.seed)
	o.tcfg.PrefixSharing = *prefixSharing
	return o, nil
}

// bindFlags is align's flag set: the program's settings go to o, the preset settings it
// overrides to p (their defaults are p's values).
func bindFlags(o *options, p *survey.Preset, stderr io.Writer) (fs *flag.FlagSet, presetName, subset *string, accum *int, prefixSharing *bool) {
	fs = cli.NewFlagSet("align", stderr)
	presetName = fs.String("preset", "demo", "settings: demo (a budget for the embedded toy model) or paper (the published protocol)")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the resolved settings as JSON and exit")
	o.ck.Register(fs, cli.Flags{Model: "testdata/stories260k", Chat: true})
	fs.StringVar(&p.Instrument, "instrument", p.Instrument, `"builtin" or an instrument file, e.g. the authors' kvs_data_new.json (default: the preset's)`)
	subset = fs.String("subset", "", "PER,TASKS,TEMPLATES: keep PER descriptions per value and split, the first TASKS task prompts and TEMPLATES templates (0: all), for quick runs")
	fs.StringVar(&p.Intervention, "targets", p.Intervention, "values to move: names, basic values or named profiles, NAME=down|up, comma-separated (default: the preset's, power-minimisation)")
	fs.StringVar(&o.out, "out", "out/align", "output directory")
	fs.StringVar(&o.games, "games", "", "MACHIAVELLI game_data directory for the games step (default: the built-in ChoiceScript suite)")
	fs.StringVar(&o.aita, "aita", "", "the authors' AITA value/stance posts (JSONL) for the probability-gain evaluation (optional)")
	fs.IntVar(&o.aitaLimit, "aita-limit", 0, "read only the first N AITA posts (0: all)")
	fs.IntVar(&p.AITACap, "aita-cap", p.AITACap, "most AITA posts per value, a seeded sample (default: the preset's, 500; -1: no cap)")
	fs.IntVar(&p.Variants, "variants", p.Variants, "training variants per description, of the instrument's tasks x templates (27: all; default: the preset's)")
	fs.IntVar(&o.batch, "batch", 16, "prompts per forward pass when rating and evaluating")
	fs.IntVar(&p.Rank, "rank", p.Rank, "LoRA rank (default: the preset's)")
	fs.Float64Var(&p.Alpha, "alpha", p.Alpha, "LoRA alpha (default: the preset's)")
	fs.Float64Var(&p.LR, "lr", p.LR, "peak learning rate (default: the preset's)")
	fs.IntVar(&p.Epochs, "epochs", p.Epochs, "most epochs (default: the preset's)")
	fs.IntVar(&p.MicroBatch, "train-batch", p.MicroBatch, "examples per micro-batch (default: the preset's)")
	accum = fs.Int("accum", 0, "micro-batches per optimizer step (default: the preset's batch / micro-batch)")
	prefixSharing = fs.Bool("prefix-sharing", true, "run the prompt prefixes that the rows of a training micro-batch share once (same loss and gradients)")
	fs.Var(&p.Schedule, "schedule", "learning rate after warm-up: constant or linear (default: the preset's)")
	fs.Float64Var(&p.MaxGradNorm, "max-grad-norm", p.MaxGradNorm, "clip the gradient norm (0: off; default: the preset's)")
	fs.BoolVar(&p.EOS, "eos", p.EOS, "append the end-of-sequence token after the answer digit (default: the preset's)")
	fs.StringVar(&p.Readout, "readout", p.Readout, "in-domain read-out: generate (sampled text, first digit; the authors') or logit (default: the preset's)")
	fs.IntVar(&p.Seeds, "seeds", p.Seeds, "read-out seeds of the sampled read-out (default: the preset's)")
	fs.StringVar(&p.GamesSampling, "games-sampling", p.GamesSampling, "games actions: argmax or "+survey.GamesSample+" (default: the preset's)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of initialisation, data order and dropout; read-out seeds are seed, seed+1, ...")
	return fs, presetName, subset, accum, prefixSharing
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		return 2
	}
	if o.printConfig {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return cli.Status(stderr, "align", enc.Encode(o.preset))
	}
	o.tcfg.Progress = stderr
	return cli.Status(stderr, "align", align(ctx, o, stdout, stderr))
}
