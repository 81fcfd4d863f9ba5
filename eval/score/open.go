package score

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/tokenize"
)

// ChatMode decides whether the scorer Open builds reads prompts through the chat template.
type ChatMode int

const (
	// ChatAuto uses the chat template when tokenizer_config.json has one (an instruct model),
	// and plain text otherwise (a base model).
	ChatAuto ChatMode = iota
	// ChatOn uses the chat template; a tokenizer without one is an error.
	ChatOn
	// ChatOff reads prompts as plain text (Text+Prefix) even when there is a chat template.
	ChatOff
)

// OpenOptions configure Open. The zero value opens the model directory's checkpoint and
// tokenizer, without an adapter, with the chat template when there is one.
type OpenOptions struct {
	// Tokenizer is the directory of tokenizer.json and tokenizer_config.json; "" is the model
	// directory.
	Tokenizer string
	// Adapter is a PEFT LoRA adapter directory (adapter_config.json and
	// adapter_model.safetensors) applied in every pass of the scorer; "" for none. An adapter
	// already in memory goes in Scorer.Adapter instead (not both).
	Adapter string
	// Chat decides whether prompts are read through the chat template (default ChatAuto).
	Chat ChatMode
	// Scorer configures the scorer: BatchSize, Adapter, and Chat.System and Chat.Vars for the
	// chat template. Open sets Chat.Enabled from the Chat mode.
	Scorer Options
}

// Session is a model opened by Open, ready to score: its checkpoint, tokenizer, adapter and a
// scorer over them. It is safe for concurrent use as ModelScorer is. Close it when done.
type Session struct {
	Model     *model.Model
	Tokenizer *tokenize.Tokenizer
	// Adapter is the adapter read from OpenOptions.Adapter (nil without one). The scorer
	// applies it; it is not merged into the model.
	Adapter *lora.Adapter
	// Generation is the checkpoint's generation_config.json, nil when it has none. Its
	// end-of-sequence ids are added to Model.Config.EOSTokenIDs, so that generation stops
	// where transformers' generate does.
	Generation *model.GenerationConfig
	// Scorer scores (LogProbs) and generates (Generate) with the model, tokenizer, chat setting
	// and adapter.
	Scorer *ModelScorer
}

// Open reads everything a program needs to score with a checkpoint directory in one call: the
// model (config.json and safetensors weights, memory-mapped), the tokenizer (with its chat
// template), generation_config.json when present, and optionally a LoRA adapter; it then builds
// the scorer. Whether prompts go through the chat template is decided by opts.Chat.
func Open(dir string, opts OpenOptions) (*Session, error) {
	return open(dir, opts, loaders{
		model:     model.Load,
		tokenizer: tokenize.Load,
		adapter:   lora.Load,
		read:      os.ReadFile,
		join:      filepath.Join,
	})
}

// OpenFS is Open on the directory dir of fsys ("." for its root), for checkpoints in an
// embed.FS, an archive or any other file system; the weights are read into memory (see
// model.LoadFS). opts.Tokenizer and opts.Adapter are directories of fsys too.
func OpenFS(fsys fs.FS, dir string, opts OpenOptions) (*Session, error) {
	return open(dir, opts, loaders{
		model:     func(d string) (*model.Model, error) { return model.LoadFS(fsys, d) },
		tokenizer: func(d string) (*tokenize.Tokenizer, error) { return tokenize.LoadFS(fsys, d) },
		adapter:   func(d string, m *model.Model) (*lora.Adapter, error) { return lora.LoadFS(fsys, d, m) },
		read:      func(p string) ([]byte, error) { return fs.ReadFile(fsys, p) },
		join:      func(elem ...string) string { return path.Join(elem...) },
	})
}

// loaders read the parts of a session from a directory tree (the OS's or an fs.FS).
type loaders struct {
	model     func(dir string) (*model.Model, error)
	tokenizer func(dir string) (*tokenize.Tokenizer, error)
	adapter   func(dir string, m *model.Model) (*lora.Adapter, error)
	read      func(path string) ([]byte, error)
	join      func(elem ...string) string
}

func open(dir string, opts OpenOptions, ld loaders) (_ *Session, err error) {
	fail := func(err error) (*Session, error) { return nil, fmt.Errorf("score: open %s: %w", dir, err) }
	if opts.Adapter != "" && opts.Scorer.Adapter != nil {
		return fail(errors.New("both OpenOptions.Adapter and OpenOptions.Scorer.Adapter are set"))
	}
	if opts.Chat < ChatAuto || opts.Chat > ChatOff {
		return fail(fmt.Errorf("unknown chat mode %d", opts.Chat))
	}
	tokDir := opts.Tokenizer
	if tokDir == "" {
		tokDir = dir
	}
	tok, err := ld.tokenizer(tokDir)
	if err != nil {
		return fail(err)
	}
	var gen *model.GenerationConfig
	genPath := ld.join(dir, model.GenerationConfigFile)
	raw, err := ld.read(genPath)
	switch {
	case err == nil:
		if gen, err = model.ParseGenerationConfig(raw); err != nil {
			return fail(fmt.Errorf("%s: %w", genPath, err))
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fail(err)
	}
	switch opts.Chat {
	case ChatAuto:
		opts.Scorer.Chat.Enabled = tok.HasChatTemplate()
	case ChatOn:
		if !tok.HasChatTemplate() {
			return fail(fmt.Errorf("ChatOn, but the tokenizer in %s has no chat_template", tokDir))
		}
		opts.Scorer.Chat.Enabled = true
	case ChatOff:
		opts.Scorer.Chat.Enabled = false
	}
	m, err := ld.model(dir)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if gen != nil {
		for _, id := range gen.EOSTokenIDs {
			if id >= m.Config.VocabSize {
				return fail(fmt.Errorf("%s: eos_token_id %d is outside the model's vocabulary of %d", genPath, id, m.Config.VocabSize))
			}
			if !slices.Contains(m.Config.EOSTokenIDs, id) {
				m.Config.EOSTokenIDs = append(m.Config.EOSTokenIDs, id)
			}
		}
	}
	s := &Session{Model: m, Tokenizer: tok, Generation: gen}
	if opts.Adapter != "" {
		if s.Adapter, err = ld.adapter(opts.Adapter, m); err != nil {
			return fail(err)
		}
		opts.Scorer.Adapter = s.Adapter
	}
	if s.Scorer, err = New(m, tok, opts.Scorer); err != nil {
		return fail(err)
	}
	return s, nil
}

// Close closes the model: it waits for the passes in flight, after which the scorer returns
// errors wrapping model.ErrClosed.
func (s *Session) Close() error { return s.Model.Close() }
