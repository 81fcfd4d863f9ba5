package model_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"github.com/valora-go/valora/model"
)

// A prompt computed once, then continued two ways in one batch.
func ExampleCache() {
	m, err := model.Load("../testdata/stories260k")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	prompt := []int{1, 403, 407, 261, 378} // <s> Once upon a time

	var cache model.Cache
	b, err := model.NewBatch([][]int{prompt}, 0)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Forward(ctx, b, model.Options{Cache: &cache}); err != nil {
		log.Fatal(err)
	}
	two, err := cache.Expand(2)
	if err != nil {
		log.Fatal(err)
	}
	// Row 0 continues with " there" (383), row 1 with " happy" (393).
	next := model.Batch{B: 2, T: 1, IDs: []int32{383, 393}}
	out, err := m.Forward(ctx, next, model.Options{Cache: two})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("cached tokens per row:", two.Len())
	for i := range 2 {
		row := out.Row(i)
		fmt.Println("row", i, "next token:", slices.Index(row, slices.Max(row)))
	}
	// Output:
	// cached tokens per row: 6
	// row 0 next token: 286
	// row 1 next token: 298
}
