package kern

// AddInPlace adds delta (len Rows*Cols, row-major) to the weight. Half-precision weights are
// decoded, added in float32 and rounded back to their precision.
func (w *Weight) AddInPlace(delta []float32) {
	switch w.DType {
	case F32:
		for i, d := range delta {
			if w.Panel != 0 {
				i = panelIndex(i/w.Cols, i%w.Cols, w.Cols, w.Panel)
			}
			w.F32[i] += d
		}
	case BF16:
		for i, d := range delta {
			w.Half[i] = F32ToBF16(BF16ToF32(w.Half[i]) + d)
		}
	case F16:
		for i, d := range delta {
			w.Half[i] = F32ToF16(F16ToF32(w.Half[i]) + d)
		}
	}
}
