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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valora-go/valora/eval"
	"github.com/valora-go/valora/eval/machiavelli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey/chart"
	"github.com/valora-go/valora/tokenize"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

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
	task, modelDir, tokDir, adapterDir, controlDir string
	data, format, out, agent                       string
	games                                          []string
	chat, shortOnly                                bool
	limit, batch                                   int
	seed                                           uint64
	gamesDir                                       string
	seeds                                          []uint32
	actions                                        []int
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
		fmt.Fprintf(stderr, "evaluate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wall time %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}

func parse(args []string, stderr io.Writer) (*config, int) {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	fs.StringVar(&cfg.modelDir, "model", "", "base checkpoint directory (config.json + safetensors), required")
	fs.StringVar(&cfg.tokDir, "tokenizer", "", "tokenizer directory (default: the model directory)")
	fs.StringVar(&cfg.adapterDir, "adapter", "", "PEFT LoRA adapter of the tuned model (default: none, the base model)")
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
	fs.BoolVar(&cfg.chat, "chat", false, "wrap prompts in the model's chat template with the generation prompt")
	fs.IntVar(&cfg.limit, "limit", 0, "evaluate only the first N posts / rows (not for games: use -seeds, -game); 0: all")
	fs.IntVar(&cfg.batch, "batch", eval.DefaultForwardBatch, "prompts per forward pass")
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
	case cfg.modelDir == "" && !(cfg.task == taskGames && (cfg.agent == "random" || cfg.agent == "fixed")):
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
	for _, name := range sortedKeys(taskFlags) {
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
	if cfg.tokDir == "" {
		cfg.tokDir = cfg.modelDir
	}
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

// items is a task's loaded data, cut to -limit (except games).
type items struct {
	aita     []eval.AITAPost
	verdicts []eval.VerdictPost
	moral    []eval.MoralItem
	games    []*machiavelli.Game
	source   string // what was read: the data path, the -games directory or "built-in ChoiceScript suite"
	format   string // verdicts: the reader used
	n        int    // posts or rows evaluated; games: games x seeds (episodes per agent)
}

// load reads the task's data and applies -limit.
func load(cfg *config) (*items, error) {
	it := &items{source: cfg.data}
	var err error
	switch cfg.task {
	case taskAITA:
		if it.aita, err = eval.LoadAITAStances(cfg.data); err == nil {
			it.aita = limit(it.aita, cfg.limit)
			it.n = len(it.aita)
		}
	case taskVerdicts:
		it.format = cfg.format
		if it.format == formatAuto {
			if it.format, err = detectFormat(cfg.data); err != nil {
				return nil, err
			}
		}
		if it.format == formatFionasguo {
			it.verdicts, err = eval.LoadAITAVerdicts(cfg.data)
		} else {
			it.verdicts, err = eval.LoadEthicsAITA(cfg.data)
		}
		it.verdicts = limit(it.verdicts, cfg.limit)
		it.n = len(it.verdicts)
	case taskEthics:
		if it.moral, err = eval.LoadEthicsCommonsense(cfg.data, cfg.shortOnly); err == nil {
			it.moral = limit(it.moral, cfg.limit)
			it.n = len(it.moral)
		}
	case taskMoralStories:
		if it.moral, err = eval.LoadMoralStories(cfg.data); err == nil {
			it.moral = limit(it.moral, cfg.limit)
			it.n = len(it.moral)
		}
	case taskGames:
		it.games, err = loadGames(cfg)
		if err == nil {
			it.source = cfg.gamesDir
			if cfg.gamesDir == "" {
				it.source = "built-in ChoiceScript suite"
			}
			it.n = len(it.games) * len(cfg.seeds)
		}
	}
	if err != nil {
		return nil, err
	}
	if it.n == 0 {
		return nil, fmt.Errorf("%s: no items to evaluate", it.source)
	}
	return it, nil
}

func limit[T any](xs []T, n int) []T {
	if n > 0 && len(xs) > n {
		return xs[:n]
	}
	return xs
}

func loadGames(cfg *config) ([]*machiavelli.Game, error) {
	if cfg.gamesDir != "" {
		games, err := machiavelli.LoadDir(cfg.gamesDir, cfg.games...)
		if err != nil {
			return nil, fmt.Errorf("-games %s: %w", cfg.gamesDir, err)
		}
		return games, nil
	}
	games, err := machiavelli.Load(machiavelli.SuiteFS(), cfg.games...)
	if err != nil {
		return nil, fmt.Errorf("built-in suite: %w", err)
	}
	return games, nil
}

// parseSeeds reads "A-B" or "a,b,c".
func parseSeeds(s string) ([]uint32, error) {
	var out []uint32
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 32)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 32)
		if err1 != nil || err2 != nil || b < a {
			return nil, fmt.Errorf("-seeds %q: want A-B with A <= B", s)
		}
		for x := a; x <= b; x++ {
			out = append(out, uint32(x))
		}
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-seeds %q: want A-B or a list of seeds", s)
		}
		out = append(out, uint32(x))
	}
	return out, nil
}

// playGames runs the games task: the model agents (tuned, control, base) or a model-free
// random / fixed agent, and writes report.json, report.md, games.png and, without a model,
// trajectories.jsonl.
func playGames(ctx context.Context, cfg *config, data *items, agents []machiavelli.Agent, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	r, err := machiavelli.Run(ctx, data.games, agents, cfg.seeds, machiavelli.MaxSteps)
	if err != nil {
		return err
	}
	written := []string{"report.json", "report.md", "games.png"}
	if cfg.agent == "random" || cfg.agent == "fixed" {
		if err := machiavelli.WriteTrajectories(filepath.Join(cfg.out, "trajectories.jsonl"), r.Trajectories); err != nil {
			return err
		}
		written = append(written, "trajectories.jsonl")
	}
	if err := eval.WriteJSON(filepath.Join(cfg.out, "report.json"), r); err != nil {
		return err
	}
	if err := eval.WriteMarkdown(filepath.Join(cfg.out, "report.md"), r); err != nil {
		return err
	}
	if err := chart.WriteGames(filepath.Join(cfg.out, "games.png"), r.ChartSeries()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "games: %d games x %d seeds, agents %s; overall %s\n", len(r.Games), len(r.Seeds), strings.Join(r.Agents, ", "), gamesHeadline(r))
	fmt.Fprintf(stdout, "wrote %s in %s\n", strings.Join(written, ", "), cfg.out)
	return nil
}

func gamesHeadline(r *machiavelli.Report) string {
	var parts []string
	for _, a := range r.Agents {
		o := r.Overall[a]
		parts = append(parts, fmt.Sprintf("%s: power %.1f, disutility %.1f, violations %.1f", a, o["power.Σ"], o["utility.Σ"], o["violations.Σ"]))
	}
	return strings.Join(parts, "; ")
}

// detectFormat tells the verdict file's format from the fields of its first non-empty line.
func detectFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("verdicts: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var rec map[string]json.RawMessage
	if err := dec.Decode(&rec); err != nil {
		return "", fmt.Errorf("verdicts: %s: first record: %w (want JSON lines; or give -format)", path, err)
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := rec[k]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("story", "top_verdict"):
		return formatFionasguo, nil
	case has("body", "label_op_wrong"):
		return formatEthicsAITA, nil
	}
	return "", fmt.Errorf("verdicts: %s: cannot tell the format from the first record: want the fields story and top_verdict (%s) or body and label_op_wrong (%s); give -format",
		path, formatFionasguo, formatEthicsAITA)
}

// evaluate loads the data, the model and the adapters, runs the task and writes the report.
func evaluate(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	data, err := load(cfg)
	if err != nil {
		return err
	}
	if cfg.task == taskGames && (cfg.agent == "random" || cfg.agent == "fixed") {
		var agent machiavelli.Agent = machiavelli.RandomAgent{}
		if cfg.agent == "fixed" {
			agent = &machiavelli.FixedAgent{Actions: cfg.actions}
		}
		return playGames(ctx, cfg, data, []machiavelli.Agent{agent}, stdout)
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	tok, err := tokenize.Load(cfg.tokDir)
	if err != nil {
		return err
	}
	m, err := model.Load(cfg.modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	if cfg.adapterDir == "" && cfg.controlDir == "" {
		fmt.Fprintf(stderr, "evaluate: warning: neither -adapter nor -control: tuned and control are both the base model\n")
	} else if cfg.adapterDir != "" && filepath.Clean(cfg.adapterDir) == filepath.Clean(cfg.controlDir) {
		fmt.Fprintf(stderr, "evaluate: warning: -adapter and -control are the same directory\n")
	}
	tuned, err := newScorer(cfg, m, tok, cfg.adapterDir, "-adapter")
	if err != nil {
		return err
	}
	control, err := newScorer(cfg, m, tok, cfg.controlDir, "-control")
	if err != nil {
		return err
	}
	total := data.n
	tunedP := &progress{s: tuned, name: "tuned", total: total, w: stderr}
	controlP := &progress{s: control, name: "control", total: total, w: stderr}
	fmt.Fprintf(stderr, "evaluate: %s on %s: %d items\n", cfg.task, data.source, data.n)

	batch := max(eval.DefaultBatchSize, cfg.batch)
	var (
		rep      eval.MarkdownReport
		headline string
		chartPNG string
		writeCh  func(path string) error
	)
	switch cfg.task {
	case taskAITA:
		r, err := eval.RunAITA(ctx, tunedP, controlP, data.aita, eval.AITAOptions{BatchSize: batch})
		if err != nil {
			return err
		}
		rep, headline = r, aitaHeadline(r)
		chartPNG, writeCh = "pg_by_value.png", func(p string) error { return chart.WriteAITA(p, r) }
	case taskVerdicts:
		r, err := eval.RunVerdicts(ctx, tunedP, controlP, data.verdicts, eval.AITAOptions{BatchSize: batch})
		if err != nil {
			return err
		}
		rep, headline = r, verdictsHeadline(r, data.format)
	case taskEthics, taskMoralStories:
		r, err := eval.RunMoral(ctx, tunedP, controlP, data.moral, eval.MoralOptions{BatchSize: batch})
		if err != nil {
			return err
		}
		rep, headline = r, moralHeadline(cfg.task, r)
	case taskGames:
		base, err := newScorer(cfg, m, tok, "", "-model")
		if err != nil {
			return err
		}
		var agents []machiavelli.Agent
		for _, x := range []struct {
			name string
			s    eval.Scorer
		}{{"tuned", tunedP}, {"control", controlP}, {"base", base}} {
			agents = append(agents, &machiavelli.LMAgent{Label: x.name, Scorer: x.s, Sample: cfg.agent == "sample", Seed: cfg.seed})
		}
		return playGames(ctx, cfg, data, agents, stdout)
	}

	info := runInfo{Task: cfg.task, Model: cfg.modelDir, Tokenizer: cfg.tokDir, Adapter: cfg.adapterDir,
		Control: cfg.controlDir, Data: data.source, Format: data.format, Chat: cfg.chat, Limit: cfg.limit,
		Items: data.n, Report: rep}
	if cfg.task == taskEthics {
		info.ShortOnly = &cfg.shortOnly
	}
	written := []string{"report.json", "report.md"}
	if err := eval.WriteJSON(filepath.Join(cfg.out, "report.json"), info); err != nil {
		return err
	}
	if err := eval.WriteMarkdown(filepath.Join(cfg.out, "report.md"), info); err != nil {
		return err
	}
	if writeCh != nil {
		if err := writeCh(filepath.Join(cfg.out, chartPNG)); err != nil {
			return err
		}
		written = append(written, chartPNG)
	}
	fmt.Fprintln(stdout, headline)
	fmt.Fprintf(stdout, "wrote %s in %s\n", strings.Join(written, ", "), cfg.out)
	return nil
}

// newScorer is the model scorer of the base model plus the adapter in dir (none when dir is
// empty); flagName names the flag in errors.
func newScorer(cfg *config, m *model.Model, tok *tokenize.Tokenizer, dir, flagName string) (*eval.ModelScorer, error) {
	opts := eval.ScorerOptions{Chat: tokenize.Chat{Enabled: cfg.chat}, BatchSize: cfg.batch}
	if dir != "" {
		ad, err := lora.Load(dir, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		opts.Adapter = ad
	}
	return eval.NewModelScorer(m, tok, opts)
}

// runInfo is what report.json holds: the run's settings and the task's report.
type runInfo struct {
	Task      string              `json:"task"`
	Model     string              `json:"model"`
	Tokenizer string              `json:"tokenizer"`
	Adapter   string              `json:"adapter"`         // tuned = base + Adapter ("" = base)
	Control   string              `json:"control_adapter"` // control = base + Control ("" = base)
	Data      string              `json:"data"`
	Format    string              `json:"format,omitempty"`
	ShortOnly *bool               `json:"short_only,omitempty"`
	Agent     string              `json:"agent,omitempty"`
	Chat      bool                `json:"chat"`
	Limit     int                 `json:"limit"`
	Items     int                 `json:"items"`
	Report    eval.MarkdownReport `json:"report"`
}

// Markdown puts the run's settings before the task's report.
func (r runInfo) Markdown() string {
	side := func(dir string) string {
		if dir == "" {
			return "base model"
		}
		return "base model + adapter `" + dir + "`"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Task `%s` on `%s` (%d items", r.Task, r.Data, r.Items)
	if r.Limit > 0 {
		fmt.Fprintf(&b, ", -limit %d", r.Limit)
	}
	fmt.Fprintf(&b, "). Model `%s`; tuned: %s; control: %s", r.Model, side(r.Adapter), side(r.Control))
	if r.Chat {
		b.WriteString("; chat template")
	}
	b.WriteString(".\n\n")
	b.WriteString(r.Report.Markdown())
	return b.String()
}

func aitaHeadline(r *eval.AITAReport) string {
	return fmt.Sprintf("aita: %d posts, %d values: PG %+.2f pp (SE %.2f, one-sided p %.3g, n %d); strict PG %+.2f pp (p %.3g); macro mean over values %+.2f pp",
		r.Posts, len(r.Values), r.Overall.Mean, r.Overall.SE, r.Overall.P, r.Overall.N,
		r.OverallStrict.Mean, r.OverallStrict.P, r.MacroMean)
}

func verdictsHeadline(r *eval.VerdictReport, format string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdicts (%s): %d posts: accuracy control %.3f, tuned %.3f; shift", format, r.N, r.AccuracyControl, r.AccuracyTuned)
	for i, l := range eval.Labels {
		s := r.All.Shift[l]
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s p(%s) %+.2f pp (p %.3g)", sep, l, s.Mean, s.PTwoSided)
	}
	return b.String()
}

func moralHeadline(task string, r *eval.MoralReport) string {
	g := r.All
	return fmt.Sprintf("%s: %d items: accuracy control %.3f, tuned %.3f; shift p(wrong) %+.2f pp (p %.3g), shift p(correct) %+.2f pp (p %.3g)",
		task, g.N, g.AccuracyControl, g.AccuracyTuned, g.ShiftWrong.Mean, g.ShiftWrong.PTwoSided, g.ShiftCorrect.Mean, g.ShiftCorrect.PTwoSided)
}

// progress is a Scorer that reports on stderr how many prompts one side has scored, at most
// every few seconds and when it is done. The evaluators score each side in order, in calls of
// a few prompts, so the count is the side's progress through the items.
type progress struct {
	s     eval.Scorer
	name  string
	total int
	w     io.Writer
	done  int
	last  time.Time
}

const progressEvery = 10 * time.Second

func (p *progress) LogProbs(ctx context.Context, prompts []eval.Prompt, candidates [][]string) ([][]float64, error) {
	if p.last.IsZero() {
		p.last = time.Now()
	}
	out, err := p.s.LogProbs(ctx, prompts, candidates)
	if err != nil {
		return nil, err
	}
	p.done += len(prompts)
	if time.Since(p.last) >= progressEvery || p.done == p.total {
		fmt.Fprintf(p.w, "evaluate: %s: %d/%d prompts scored\n", p.name, p.done, p.total)
		p.last = time.Now()
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
