package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

// surveyWorkload builds the survey workload: the instrument's prompts (every task and template
// of a seeded sample of descriptions) in the Qwen3 chat template, each answered by a random
// rating digit, ordered as the trainer orders a training set with prefix sharing (rows that
// share a prefix next to each other, groups and rows shuffled) and cut into batches of
// o.batch, one per timed step. Both settings of -prefix-sharing train on the same batches. Token ids beyond a small
// preset's vocabulary are taken modulo its size.
func surveyWorkload(o options, c *model.Config, logf func(string, ...any)) (*workload, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	tokDir := o.tokenizer
	if tokDir == "" {
		tokDir = filepath.Join(root, "testdata", "qwen3-tokenizer")
	}
	tok, err := tokenize.Load(tokDir)
	if err != nil {
		return nil, fmt.Errorf("survey workload: %w", err)
	}
	var in *survey.Instrument
	path := o.surveyFile
	if path == "" {
		if p := filepath.Join(root, "..", "shared", "data", "survey", "kvs_data_new.json"); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		in, err = survey.LoadFile(path)
	} else {
		path = "built-in instrument"
		in, err = survey.Builtin()
	}
	if err != nil {
		return nil, fmt.Errorf("survey workload: %w", err)
	}
	rng := rand.New(rand.NewPCG(o.seed+2, 0x5eed))
	descs := slices.Clone(in.Descriptions)
	rng.Shuffle(len(descs), func(i, j int) { descs[i], descs[j] = descs[j], descs[i] })
	need := max(o.trainSteps, 1) * o.batch
	per := in.VariantsPerDescription()
	descs = descs[:min(len(descs), need/max(1, per)+2)]
	var texts []train.TextExample
	for _, v := range in.Variants(descs) {
		p, err := in.Prompt(v, survey.RenderOptions{})
		if err != nil {
			return nil, err
		}
		texts = append(texts, train.TextExample{Prompt: p.Text, Prefix: p.Prefix, Answer: strconv.Itoa(1 + rng.IntN(6))})
	}
	xs, err := train.Encode(tok, texts, tokenize.Chat{Enabled: true, Vars: map[string]any{"enable_thinking": false}}, false)
	if err != nil {
		return nil, fmt.Errorf("survey workload: %w", err)
	}
	for i := range xs {
		for _, s := range [][]int{xs[i].Prompt, xs[i].Answer} {
			for j := range s {
				s[j] %= c.VocabSize
			}
		}
	}
	order := train.OrderByPrefix(xs, rng.Shuffle)
	w := &workload{}
	var real, full, shared int
	for lo := 0; lo+o.batch <= len(order) && len(w.batches) < need/o.batch; lo += o.batch {
		b := make([]train.Example, o.batch)
		for j, i := range order[lo : lo+o.batch] {
			b[j] = xs[i]
			real += xs[i].Len()
		}
		f, sh := train.SharedSlots(b)
		full += f
		shared += sh
		w.batches = append(w.batches, b)
	}
	if len(w.batches) == 0 {
		return nil, fmt.Errorf("survey workload: %d prompts, fewer than a batch of %d", len(xs), o.batch)
	}
	w.tokens = float64(real) / float64(len(w.batches))
	first, labels, err := train.Collate(w.batches[0], 0)
	if err != nil {
		return nil, err
	}
	w.batch, w.scoreRows, w.labels, w.nLabels = first, first.Last(), labels, train.AnswerTokens(w.batches[0])
	logf("survey: %s, %d prompts of %d descriptions, %d batches of %d, %.1f tokens per row; token slots per batch %.0f run in full, %.0f with shared prefixes (%.1f%% saved)",
		path, len(xs), len(descs), len(w.batches), o.batch, w.tokens/float64(o.batch),
		float64(full)/float64(len(w.batches)), float64(shared)/float64(len(w.batches)), 100*(1-float64(shared)/float64(full)))
	return w, nil
}

// repoRoot is the nearest directory at or above the working directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("survey workload: no go.mod above the working directory; give -tokenizer")
		}
		dir = up
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist) && err == nil
}
