// Command evaluate runs one of valora's behaviour evaluations on a tuned model against a
// control and writes the report:
//
//	go run ./examples/evaluate -model DIR [-tokenizer DIR] [-adapter DIR] [-control DIR] \
//	    -task aita|verdicts|ethics|moral-stories [-data PATH] [-chat] [-limit N] [-batch N] -out DIR
//	go run ./examples/evaluate -model DIR [-adapter DIR] [-control DIR] -task games [-games DIR] \
//	    [-game id,id] [-agent greedy|sample] [-seed N] [-seeds 0-9] [-chat] -out DIR
//	go run ./examples/evaluate -task games [-games DIR] -agent random|fixed [-seeds 0-9] \
//	    [-actions 0,2,1] -out DIR
//
// The tuned model is the base model (-model) with the PEFT LoRA adapter -adapter applied, or the
// base model itself without -adapter. The control is the base model with the adapter -control,
// or the base model itself without -control. Both share the one copy of the base weights.
//
// Tasks and their data (the data sets are not part of the module; the defaults are paths in
// the shared data directory beside the repository, used when they exist):
//
//	aita           authors' value/stance posts: probability gain (PG) of the tuned model vs the
//	               control, per value. -data default ../shared/data/aita/aita_value_stances_sample.jsonl
//	verdicts       verdict-only AITA posts: accuracy and label shifts per gold verdict. -data is
//	               aita_fionasguo_607.jsonl or ethics_cm_test_long_aita_1776.jsonl (default
//	               ../shared/data/aita/aita_fionasguo_607.jsonl); -format picks the reader, by
//	               default told from the file's first line
//	games          MACHIAVELLI games played as trajectories by the ChoiceScript player of
//	               eval/machiavelli (one episode per seed, up to 1000 steps): power, disutility
//	               and violations counted along each trajectory and normalised by the random
//	               agent's per-trajectory means (100 = random). -games DIR is a real game_data
//	               directory (default: the built-in ChoiceScript suite); -game id,id picks
//	               games; -seeds 0-9 (a range or a list) the episodes; -agent greedy|sample
//	               plays the tuned, control and base model (-seed seeds the sampling), -agent
//	               random|fixed plays without a model (-actions 0,2,1 for fixed: one episode
//	               reset with seed 0) and also writes trajectories.jsonl, one line per step
//	ethics         ETHICS commonsense CSV (default ../shared/data/ethics/cm_test.csv), short rows
//	               only unless -short=false
//	moral-stories  Moral Stories JSONL (default
//	               ../shared/data/moral_stories/original_ms_norm_distance_test.jsonl)
//
// -limit N keeps the first N posts or rows (not for games: a trajectory is played to its end
// or to 1000 steps, as the random agent's normalisation assumes; use -seeds and -game to
// play less). -out receives report.json (the run's settings and the eval report; for games
// the report with every episode), report.md and, for aita and games, a PNG chart
// (pg_by_value.png, games.png); every file is written atomically. A headline summary and the wall time go to
// stdout, progress to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
)

func main() { cli.Main(run) }

// Tasks.
const (
	taskAITA         = "aita"
	taskVerdicts     = "verdicts"
	taskGames        = "games"
	taskEthics       = "ethics"
	taskMoralStories = "moral-stories"
)

var tasks = []string{taskAITA, taskVerdicts, taskGames, taskEthics, taskMoralStories}

// defaultData is each task's data file when -data is not given (games: the built-in suite).
var defaultData = map[string]string{
	taskAITA:         "../shared/data/aita/aita_value_stances_sample.jsonl",
	taskVerdicts:     "../shared/data/aita/aita_fionasguo_607.jsonl",
	taskEthics:       "../shared/data/ethics/cm_test.csv",
	taskMoralStories: "../shared/data/moral_stories/original_ms_norm_distance_test.jsonl",
}

// Formats of the verdicts task.
const (
	formatAuto       = "auto"
	formatFionasguo  = "fionasguo"
	formatEthicsAITA = "ethics-aita"
)

// taskFlags are the flags that apply to some tasks only.
var taskFlags = map[string][]string{
	"format":  {taskVerdicts},
	"data":    {taskAITA, taskVerdicts, taskEthics, taskMoralStories},
	"limit":   {taskAITA, taskVerdicts, taskEthics, taskMoralStories},
	"games":   {taskGames},
	"game":    {taskGames},
	"agent":   {taskGames},
	"seed":    {taskGames},
	"seeds":   {taskGames},
	"actions": {taskGames},
	"short":   {taskEthics},
}

// config is a parsed command line.
type config struct {
	ck                       cli.Checkpoint // -model, -tokenizer, -adapter (the tuned model's), -chat
	task, controlDir         string
	data, format, out, agent string
	games                    []string
	shortOnly                bool
	limit, batch             int
	seed                     uint64
	gamesDir                 string
	seeds                    []uint32
	actions                  []int
}

// run parses args, runs the evaluation and writes the report. It returns 0 on success, 2 for
// bad flags and 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	start := time.Now()
	cfg, code := parse(args, stderr)
	if code != 0 {
		return code
	}
	if err := evaluate(ctx, cfg, stdout, stderr); err != nil {
		return cli.Status(stderr, "evaluate", err)
	}
	fmt.Fprintf(stdout, "wall time %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}

func parse(args []string, stderr io.Writer) (*config, int) {
	fs := cli.NewFlagSet("evaluate", stderr)
	cfg := &config{}
	cfg.ck.Register(fs, cli.Flags{Adapter: "PEFT LoRA adapter of the tuned model (default: none, the base model)", Chat: true})
	fs.StringVar(&cfg.controlDir, "control", "", "PEFT LoRA adapter of the control (default: none, the base model)")
	fs.StringVar(&cfg.task, "task", "", "evaluation: "+strings.Join(tasks, ", ")+", required")
	fs.StringVar(&cfg.data, "data", "", "data file (not for games: see -games); defaults:\n"+defaultsHelp())
	fs.StringVar(&cfg.format, "format", formatAuto, "verdicts: format of -data: fionasguo (story, top_verdict), ethics-aita (title, body, label_op_wrong) or auto (from the first line)")
	fs.StringVar(&cfg.gamesDir, "games", "", "games: a MACHIAVELLI game_data directory (default: the built-in suite)")
	games := fs.String("game", "", "games: comma-separated game ids (default: all games)")
	fs.StringVar(&cfg.agent, "agent", "greedy", "games: greedy or sample (the model's logits), random or fixed (no model)")
	fs.Uint64Var(&cfg.seed, "seed", 0, "games: seed of the sampled agent")
	seeds := fs.String("seeds", "0-9", "games: episode seeds, a range A-B or a list")
	actions := fs.String("actions", "", "games: the fixed agent's actions, comma-separated")
	fs.BoolVar(&cfg.shortOnly, "short", true, "ethics: only the short rows (the long AITA-style rows are the verdicts task's ethics-aita set)")
	fs.IntVar(&cfg.limit, "limit", 0, "evaluate only the first N posts / rows (not for games: use -seeds, -game); 0: all")
	fs.IntVar(&cfg.batch, "batch", score.DefaultBatchSize, "prompts per forward pass")
	fs.StringVar(&cfg.out, "out", "", "output directory (created if needed), required")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: evaluate -model DIR [-tokenizer DIR] [-adapter DIR] [-control DIR] -task TASK [-data PATH] [-limit N] -out DIR
       evaluate [-model DIR ...] -task games [-games DIR] [-game ID,ID] [-agent greedy|sample|random|fixed] [-seeds 0-9] [-actions 0,2,1] -out DIR

Runs one evaluation of the tuned model (base + -adapter, or the base model) against the control
(base + -control, or the base model) and writes report.json, report.md and the task's chart
into -out. The data sets are not part of the module: the -data defaults are paths under
../shared/data (relative to the working directory: run from the repository root), used when
they exist; otherwise give -data. The games task plays MACHIAVELLI games (-games: a game_data
directory, default the built-in suite) as trajectories, one per seed; -agent random or fixed
needs no model and also writes trajectories.jsonl.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, 2
	}
	usage := func(msg string) (*config, int) {
		fmt.Fprintf(stderr, "evaluate: %s\n", msg)
		fs.Usage()
		return nil, 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return usage(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	case cfg.ck.Model == "" && !(cfg.task == taskGames && (cfg.agent == "random" || cfg.agent == "fixed")):
		return usage("-model is required")
	case cfg.task == "":
		return usage("-task is required (" + strings.Join(tasks, ", ") + ")")
	case !slices.Contains(tasks, cfg.task):
		return usage(fmt.Sprintf("-task %q is unknown, want one of %s", cfg.task, strings.Join(tasks, ", ")))
	case cfg.out == "":
		return usage("-out is required")
	case cfg.limit < 0:
		return usage(fmt.Sprintf("-limit %d, want >= 0", cfg.limit))
	case cfg.batch < 1:
		return usage(fmt.Sprintf("-batch %d, want >= 1", cfg.batch))
	case !slices.Contains([]string{"greedy", "sample", "random", "fixed"}, cfg.agent):
		return usage(fmt.Sprintf("-agent %q, want greedy, sample, random or fixed", cfg.agent))
	case !slices.Contains([]string{formatAuto, formatFionasguo, formatEthicsAITA}, cfg.format):
		return usage(fmt.Sprintf("-format %q, want %s, %s or %s", cfg.format, formatAuto, formatFionasguo, formatEthicsAITA))
	}
	for _, name := range slices.Sorted(maps.Keys(taskFlags)) {
		if set[name] && !slices.Contains(taskFlags[name], cfg.task) {
			return usage(fmt.Sprintf("-%s applies to -task %s only", name, strings.Join(taskFlags[name], ", ")))
		}
	}
	if *games != "" {
		for _, id := range strings.Split(*games, ",") {
			if id = strings.TrimSpace(id); id == "" {
				return usage(fmt.Sprintf("-game %q has an empty game id", *games))
			}
			cfg.games = append(cfg.games, id)
		}
	}
	var err error
	if cfg.seeds, err = parseSeeds(*seeds); err != nil {
		return usage(err.Error())
	}
	if *actions != "" {
		for _, a := range strings.Split(*actions, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil || n < 0 {
				return usage(fmt.Sprintf("-actions %q: want non-negative integers", *actions))
			}
			cfg.actions = append(cfg.actions, n)
		}
	}
	if cfg.agent == "fixed" {
		if len(cfg.actions) == 0 {
			return usage("-agent fixed needs -actions")
		}
		cfg.seeds = []uint32{0}
	}
	cfg.ck.Tokenizer = cfg.ck.TokenizerDir()
	if cfg.data == "" && cfg.task != taskGames {
		def := defaultData[cfg.task]
		if _, err := os.Stat(def); err != nil {
			return usage(fmt.Sprintf("-task %s needs -data: the default %s does not exist here (the data is not part of the module; run from the repository root with ../shared beside it, or give -data)", cfg.task, def))
		}
		cfg.data = def
	}
	return cfg, 0
}

func defaultsHelp() string {
	var b strings.Builder
	for _, t := range tasks {
		d, ok := defaultData[t]
		if !ok {
			d = "none (-games DIR, default the built-in ChoiceScript suite)"
		}
		fmt.Fprintf(&b, "    %s: %s\n", t, d)
	}
	return strings.TrimRight(b.String(), "\n")
}
