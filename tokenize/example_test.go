package tokenize_test

import (
	"fmt"

	"github.com/valora-go/valora/tokenize"
)

func Example() {
	tok, err := tokenize.Load("../testdata/qwen3-tokenizer")
	if err != nil {
		fmt.Println(err)
		return
	}
	ids, _ := tok.Encode("Hello world", false)
	fmt.Println(ids)
	text, _ := tok.Decode(ids, false)
	fmt.Println(text)

	prompt, _ := tok.ApplyChatTemplate([]tokenize.Message{{Role: "user", Content: "Rate 1-6."}},
		true, map[string]any{"enable_thinking": false})
	fmt.Printf("%q\n", prompt)
	answers, _ := tok.AnswerTokens(prompt, []string{"1", "6", "NTA"})
	fmt.Println(answers)
	// Output:
	// [9707 1879]
	// Hello world
	// "<|im_start|>user\nRate 1-6.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
	// [[16] [21] [6408 32]]
}
