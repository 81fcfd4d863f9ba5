// Package cli is what valora's example programs share: running a command under a context that
// an interrupt cancels and ending it with an exit status, the flags that name a checkpoint
// (-model, -tokenizer, -adapter, -chat) and opening that checkpoint. It is internal to
// examples/ and, like the programs, uses only valora's public API (loading goes through
// score.Open).
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/valora-go/valora/eval/score"
	"github.com/valora-go/valora/lora"
	"github.com/valora-go/valora/model"
	"github.com/valora-go/valora/survey"
	"github.com/valora-go/valora/tokenize"
)

// Main runs a command's run function with the process's arguments and standard streams,
// under a context that SIGINT (and the extra signals given) cancels, and exits with its status.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int, sig ...os.Signal) {
	ctx, stop := signal.NotifyContext(context.Background(), append([]os.Signal{os.Interrupt}, sig...)...)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Status is the exit status of a command whose work ended with err: 0 when err is nil, else 1
// after writing "name: err" to stderr.
func Status(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}

// NewFlagSet is a flag set for the command name that reports parse errors (rather than exiting)
// and writes its messages and usage to stderr.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Checkpoint is a model checkpoint named on the command line.
type Checkpoint struct {
	Model     string // checkpoint directory: config.json and safetensors weights
	Tokenizer string // tokenizer directory; "" is Model (see TokenizerDir)
	Adapter   string // PEFT LoRA adapter directory; "" for none
	Chat      bool   // read prompts through the tokenizer's chat template
}

// Flags say which of a Checkpoint's flags a program takes.
type Flags struct {
	Model   string // the default of -model; "" when the program requires it (and checks)
	Adapter string // the usage of -adapter; "" for no -adapter flag
	Chat    bool   // whether there is a -chat flag
}

// Register adds -model and -tokenizer to fs, and -adapter and -chat as f says, all writing
// into c.
func (c *Checkpoint) Register(fs *flag.FlagSet, f Flags) {
	usage := "checkpoint directory (config.json + safetensors)"
	if f.Model == "" {
		usage += ", required"
	}
	fs.StringVar(&c.Model, "model", f.Model, usage)
	fs.StringVar(&c.Tokenizer, "tokenizer", "", "tokenizer directory (default: the model directory)")
	if f.Adapter != "" {
		fs.StringVar(&c.Adapter, "adapter", "", f.Adapter)
	}
	if f.Chat {
		fs.BoolVar(&c.Chat, "chat", false, "wrap prompts in the model's chat template with the generation prompt")
	}
}

// TokenizerDir is the tokenizer directory: Tokenizer, or Model when Tokenizer is "".
func (c Checkpoint) TokenizerDir() string {
	if c.Tokenizer == "" {
		return c.Model
	}
	return c.Tokenizer
}

// Open loads the checkpoint with score.Open: the tokenizer, the model, the adapter when there
// is one, and a scorer with opts (its Adapter and Chat.Enabled are set by Open) that reads
// prompts through the chat template when c.Chat is set (a tokenizer without one is an error).
func (c Checkpoint) Open(opts score.Options) (*score.Session, error) {
	chat := score.ChatOff
	if c.Chat {
		chat = score.ChatOn
	}
	return score.Open(c.Model, score.OpenOptions{Tokenizer: c.Tokenizer, Adapter: c.Adapter, Chat: chat, Scorer: opts})
}

// Load is Open for programs that train or generate rather than score through the session's
// scorer: the adapter is not read and the scorer reads plain text; such programs apply the
// chat template themselves (train.Encode), so c.Chat is theirs to use.
func (c Checkpoint) Load() (*score.Session, error) {
	return score.Open(c.Model, score.OpenOptions{Tokenizer: c.Tokenizer, Chat: score.ChatOff})
}

// NewScorer is a scorer over m and tok with adapter a applied (nil: the base model), prompts
// read through the chat template when chat is set, batch prompts per forward pass.
func NewScorer(m *model.Model, tok *tokenize.Tokenizer, a *lora.Adapter, chat bool, batch int) (*score.ModelScorer, error) {
	// A nil *lora.Adapter is the base model.
	return score.New(m, tok, score.Options{Chat: tokenize.Chat{Enabled: chat}, BatchSize: batch, Adapter: a})
}

// LoadInstrument reads the survey instrument a -instrument flag names: "builtin" for
// survey.Builtin, else a file for survey.LoadFile.
func LoadInstrument(name string) (*survey.Instrument, error) {
	if name == "builtin" {
		return survey.Builtin()
	}
	return survey.LoadFile(name)
}
