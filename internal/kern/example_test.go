package kern_test

import (
	"fmt"
	"math"

	"github.com/valora-go/valora/internal/kern"
)

// A bf16 nn.Linear weight [out=2, in=3] applied to one token.
func ExampleLinear() {
	vals := []float32{1, 0, -1, 0.5, 0.5, 0.5}
	w := &kern.Weight{Rows: 2, Cols: 3, DType: kern.BF16, Half: make([]uint16, 6)}
	for i, v := range vals {
		w.Half[i] = kern.F32ToBF16(v)
	}
	if err := w.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	x := []float32{2, 3, 4}
	y := make([]float32, 2)
	kern.Linear(y, x, 1, w, false)
	fmt.Println(y)
	// Output: [-2 4.5]
}

// Two tokens of one sequence, the first of them padding (left padding): the
// padding query sees no key and gets zeros; the second sees only itself.
func ExampleAttention() {
	s := kern.AttnShape{B: 1, T: 2, Hq: 2, Hkv: 1, D: 2}
	q := []float32{1, 0, 0, 1, 1, 0, 0, 1}
	k := []float32{5, 5, 1, 2}
	v := []float32{9, 9, 3, 4}
	mask := []float32{0, 1}
	out := make([]float32, len(q))
	kern.Attention(out, q, k, v, nil, mask, s, float32(1/math.Sqrt(2)))
	fmt.Println(out)
	// Output: [0 0 0 0 3 4 3 4]
}
