// Command tokenize encodes, decodes or chat-formats text with a Hugging Face tokenizer directory.
//
//	echo '"Hello world"' | go run ./examples/tokenize -tokenizer testdata/qwen3-tokenizer
//	[9707,1879]
//
// Input is one JSON value per line on stdin, output one JSON value per line on stdout:
//
//	default   a JSON string -> a JSON array of ids (-special adds BOS etc. as the model does)
//	-decode   a JSON array of ids -> a JSON string
//	-chat     a JSON list of {"role","content"} messages -> the chat-template text with the
//	          generation prompt, as a JSON string (-vars '{"enable_thinking":false}' passes
//	          template variables)
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/valora-go/valora/tokenize"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tokenize:", err)
		os.Exit(1)
	}
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("tokenize", flag.ContinueOnError)
	dir := fs.String("tokenizer", "", "directory with tokenizer.json (and tokenizer_config.json)")
	special := fs.Bool("special", false, "add the special tokens the model adds (e.g. BOS)")
	decode := fs.Bool("decode", false, "read JSON arrays of ids, print JSON strings")
	skip := fs.Bool("skip-special", false, "with -decode: leave out special tokens")
	chat := fs.Bool("chat", false, "read JSON lists of messages, print the chat-template text")
	vars := fs.String("vars", "", "with -chat: JSON object of extra template variables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-tokenizer DIR is required")
	}
	if *decode && *chat {
		return fmt.Errorf("-decode and -chat exclude each other")
	}
	tok, err := tokenize.Load(*dir)
	if err != nil {
		return err
	}
	var extra map[string]any
	if *vars != "" {
		if err := json.Unmarshal([]byte(*vars), &extra); err != nil {
			return fmt.Errorf("-vars: %w", err)
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var res any
		switch {
		case *decode:
			var ids []int
			if err := json.Unmarshal(b, &ids); err != nil {
				return fmt.Errorf("line %d: want a JSON array of ids: %w", line, err)
			}
			if res, err = tok.Decode(ids, *skip); err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
		case *chat:
			var msgs []tokenize.Message
			if err := json.Unmarshal(b, &msgs); err != nil {
				return fmt.Errorf("line %d: want a JSON list of messages: %w", line, err)
			}
			if res, err = tok.ApplyChatTemplate(msgs, true, extra); err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
		default:
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return fmt.Errorf("line %d: want a JSON string: %w", line, err)
			}
			ids, err := tok.Encode(s, *special)
			if err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
			if ids == nil {
				ids = []int{}
			}
			res = ids
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return sc.Err()
}
