package survey_test

import (
	"fmt"

	"github.com/valora-go/valora/survey"
)

// Load the built-in instrument and count its parts.
func ExampleBuiltin() {
	in, err := survey.Builtin()
	if err != nil {
		fmt.Println(err)
		return
	}
	c := in.Counts()
	fmt.Printf("%d descriptions (%d/%d/%d), %d values, %d level-1 values\n", c.Descriptions, c.Train, c.Validation, c.Test, c.Values, c.Level1)
	fmt.Printf("%d variants each, %d prompts\n", c.Variants, c.Prompts)
	// Output:
	// 594 descriptions (378/108/108), 20 values, 54 level-1 values
	// 27 variants each, 16038 prompts
}

// What a plain (non-chat) model reads for one variant.
func ExampleRender() {
	p, _ := survey.Render("Rate the statement:\n1 = Not like me\n6 = Very much like me", "I enjoy long walks.", "Rating: {rating}", survey.RenderOptions{})
	fmt.Printf("%q\n", p.Text+p.Prefix)
	fmt.Println(survey.RenderOptions{}.Candidates())
	// Output:
	// "Rate the statement:\n1 = Not like me\n6 = Very much like me\n\nStatement:\nI enjoy long walks.\n\nRating: "
	// [1 2 3 4 5 6]
}

// The majority vote and its tie rule.
func ExampleVote() {
	a, _ := survey.Vote([]int{2, 2, 5, 5, 6}) // tie 2/5, mean 4: 5 is closer
	b, _ := survey.Vote([]int{2, 2, 5, 5})    // tie 2/5, mean 3.5: equally close, the lower
	fmt.Println(a, b)
	// Output: 5 2
}

// Resolve intervention targets.
func ExampleParseTargets() {
	ts, err := survey.ParseTargets("power-minimisation,Universalism_concern=up")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range ts {
		fmt.Println(t.Value, t.Direction)
	}
	_, err = survey.ParseTargets("Greed")
	fmt.Println(err != nil)
	// Output:
	// Power_dominance down
	// Power_resources down
	// Face down
	// Universalism_concern up
	// true
}
