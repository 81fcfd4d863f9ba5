package train

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

// TestSumOpAddsInOrder: the sum op adds its inputs in order, and with pooled inputs writes into
// the first one's buffer (read last there) and recycles the others.
func TestSumOpAddsInOrder(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		p := newPool()
		p.begin()
		op := newSum("sum", 3)
		mk := func(vals ...float32) *tensor.Dense {
			if !pooled {
				return tensor.New(tensor.WithShape(1, len(vals)), tensor.WithBacking(vals))
			}
			m := p.mat(1, len(vals), 1)
			d, _, _ := p.data(m)
			copy(d, vals)
			return m
		}
		if pooled {
			op.setPool(p, 1)
		}
		x, y, z := mk(1, 2, 3, 4, 5), mk(10, 20, 30, 40, 50), mk(100, 200, 300, 400, 500)
		out, err := op.Do(x, y, z)
		require.NoError(t, err)
		d, _, _ := p.data(out)
		require.Equal(t, []float32{111, 222, 333, 444, 555}, d)
		if pooled {
			require.Same(t, x, out, "x's buffer, last read here, holds the sum")
			require.False(t, p.byHead[y].b.live, "y and z are recycled")
			require.False(t, p.byHead[z].b.live)
		}
	}
}
