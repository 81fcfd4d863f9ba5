package main

import (
	"context"
	"math"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/examples/internal/cli"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
	"github.com/valora-go/valora/train"
)

// backend is the loaded model and tokenizer every request uses. Model construction, scorer
// construction and the training call live here, each in one small function, so the rest of
// the server does not depend on how they are done.
type backend struct {
	m   *model.Model
	tok *tokenize.Tokenizer
}

// load opens the checkpoint in modelDir and the tokenizer in tokDir ("" for modelDir) with
// score.Open; chat is decided per request, so the session's own scorer is not used.
func load(modelDir, tokDir string) (*backend, error) {
	s, err := cli.Checkpoint{Model: modelDir, Tokenizer: tokDir}.Load()
	if err != nil {
		return nil, err
	}
	return &backend{m: s.Model, tok: s.Tokenizer}, nil
}

// Close releases the model's weights. Nothing may use the backend afterwards.
func (b *backend) Close() error { return b.m.Close() }

// scorer returns a scorer over the model with adapter a (nil: the base model), the prompt
// wrapped in the chat template when chat is set, batch prompts per forward pass. It reads
// prompts the way examples/score does.
func (b *backend) scorer(a *lora.Adapter, chat bool, batch int) (score.Scorer, error) {
	s, err := cli.NewScorer(b.m, b.tok, a, chat, batch)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// trainSpec is one fine-tuning run: encoded rows and the adapter and training settings.
type trainSpec struct {
	rows []train.Example
	lcfg lora.Config
	tcfg train.Config
}

// newTrainSpec encodes rows as examples/finetune does (answer-only loss, no EOS) and fills in
// the protocol's defaults (lora.DefaultConfig, train.DefaultConfig) for the settings left nil.
func (b *backend) newTrainSpec(rows []train.TextExample, chat bool, rank *int, alpha *float64, epochs *int, lr *float64, seed uint64) (*trainSpec, error) {
	xs, err := train.Encode(b.tok, rows, tokenize.Chat{Enabled: chat}, false)
	if err != nil {
		return nil, err
	}
	s := &trainSpec{rows: xs, lcfg: lora.DefaultConfig(), tcfg: train.DefaultConfig()}
	if rank != nil {
		s.lcfg.Rank = *rank
	}
	if alpha != nil {
		s.lcfg.Alpha = *alpha
	}
	if epochs != nil {
		s.tcfg.Epochs = *epochs
	}
	if lr != nil {
		s.tcfg.LR = *lr
	}
	s.lcfg.Seed, s.tcfg.Seed = seed, seed
	if err := s.lcfg.Validate(&b.m.Config); err != nil {
		return nil, err
	}
	return s, nil
}

// train runs spec on a new adapter and returns it. onStep is called with the optimizer steps
// done, the total and the training loss of the last step (NaN before the first).
func (b *backend) train(ctx context.Context, spec *trainSpec, onStep func(step, total int, loss float64)) (*lora.Adapter, error) {
	a, err := lora.New(b.m, spec.lcfg)
	if err != nil {
		return nil, err
	}
	tcfg := spec.tcfg
	tcfg.OnStep = func(sm train.StepMetrics) error {
		onStep(sm.Step, sm.Total, sm.Loss)
		return nil
	}
	tr, err := train.New(b.m, a, spec.rows, nil, tcfg)
	if err != nil {
		return nil, err
	}
	onStep(0, tr.StepsPerEpoch()*tcfg.Epochs, math.NaN())
	if _, err := tr.Run(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// describe is a short description of an adapter for the API.
func describe(name, source string, a *lora.Adapter) adapterInfo {
	return adapterInfo{Name: name, Source: source, Rank: a.Config.Rank, Alpha: a.Config.Alpha, Params: a.NumParams()}
}

// adapterInfo is an adapter as GET /adapters lists it.
type adapterInfo struct {
	Name   string  `json:"name"`
	Source string  `json:"source"` // the directory it was loaded from, or "job N"
	Rank   int     `json:"rank"`
	Alpha  float64 `json:"alpha"`
	Params int     `json:"params"`
}
