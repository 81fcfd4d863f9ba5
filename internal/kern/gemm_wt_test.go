package kern

import (
	"fmt"
	"testing"
)

// TestBackwardWTColumnBlocks checks the in-place transposed backward (backwardWT) of every
// variant that has a panel micro-kernel with more rows m than one column block of the
// transposed product (kn.nc), so that op(B) = dyᵀ is packed in two blocks, against float64,
// written and accumulated, serial and parallel.
func TestBackwardWTColumnBlocks(t *testing.T) {
	rng := newRNG(36)
	for _, kv := range gemmVariants() {
		if kv.microPA == nil {
			continue
		}
		m, out, in, r := kv.nc+37, 2*kv.nr, 2*kv.mr+5, 3
		w := panelCopy(halfWeight(rng, out, in, F32), kv.nr)
		if !wtUsable(kv, m, w) {
			t.Fatalf("%s: backwardWT does not take the shape", kv.name)
		}
		a, dy, su := randSlice(rng, r*in), randSlice(rng, m*out), randSlice(rng, m*r)
		want := refLinearLoRABackward(dy, su, m, w, a, r)
		dx0 := randSlice(rng, m*in)
		wantAcc := plus(dx0, want)
		for _, par := range []int{1, 2} {
			msg := fmt.Sprintf("%s m=%d workers=%d", kv.name, m, par)
			dx := nanSlice(m * in)
			backwardWT(kv, dx, dy, su, m, w, a, r, false, par)
			requireClose(t, want, dx, 1e-5, msg)
			dx = append([]float32(nil), dx0...)
			backwardWT(kv, dx, dy, su, m, w, a, r, true, par)
			requireClose(t, wantAcc, dx, 1e-5, msg+" accumulated")
		}
	}
}
